"""The analysis wing: every reader of results.json files, one module each, all over `cocobench.results`.

    table     the paper's Table 1 for your runs (`cocobench table`)
    compare   regression check of new runs against a baseline (`cocobench compare`), with stats
    paths     ProsQA reasoning-path categories (`cocobench analyze paths`)
    curve     accuracy against generated tokens over a set of runs (`cocobench analyze curve`)
    plots     the PNG figures (matplotlib, an optional extra)

Each module takes validated results (dicts from `cocobench.results.load_results`) and returns plain
numbers; the commands in `cocobench/cli/` print and write them.
"""
