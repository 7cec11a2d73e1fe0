from cocobench.cli import main

main()
