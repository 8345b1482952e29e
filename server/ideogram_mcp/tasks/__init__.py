"""The life of a paid task, from checked arguments to saved images, knowing nothing of MCP.

A tool hands a ``Job`` (the model's spec, the checked arguments, the owner and their folders) to ``life.start``,
which holds it to the limits, has it approved, records it in the journal (minting its taskUUID there), uploads the
local images, sends it, waits, saves what arrived and records that: each step returns early with an ``Outcome``
that says what happened and what may have been charged. ``fetch`` does the same for a task sent earlier. The tools
turn outcomes into words and content; ``Services`` holds what every task shares (the settings, the clock, Runware,
the journal, the image store).

    life      start: limits -> approval -> record -> uploads -> send and wait -> finish
    finish    what arrived: kept (saving), accounted for, recorded; the outcome
    saving    each paid image downloaded and stored once, whatever runs at once
    fetch     get_generation and list_generations, without MCP
    prepare   the steps some tools add before a task is built (a mask drawn from a region, a size from the source)
    outcomes  what a task's life can end in
"""
