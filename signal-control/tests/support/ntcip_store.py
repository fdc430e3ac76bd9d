#!/usr/bin/env python3
"""A signal controller's NTCIP 1202 coordination storage, for net-snmp's pass_persist.

snmpd hands this script the subtree asc (1.3.6.1.4.1.1206.4.2.1). It keeps a controller's
pattern table, split table and pattern select in a JSON file, so values survive a restart and a
test can read them. What a real controller checks, it checks: only writable objects of existing
rows take a SET, values must be 0-255 integers, and objects listed under "refuse" in the file
answer not-writable (a controller in local control, say).

Usage (snmpd.conf): pass_persist .1.3.6.1.4.1.1206.4.2.1 /usr/bin/python3 ntcip_store.py STATE.json
"""
import json
import os
import sys

ASC = (1, 3, 6, 1, 4, 1, 1206, 4, 2, 1)
PATTERNS = range(1, 17)
SPLITS = range(1, 17)
PHASES = range(1, 17)
STATE = sys.argv[1]


def load():
    try:
        with open(STATE) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def save(state):
    partial = STATE + ".partial"
    with open(partial, "w") as handle:
        json.dump(state, handle, sort_keys=True)
    os.replace(partial, STATE)


def objects():
    """Every object instance: (arcs, writable, default)."""
    rows = []
    for p in PATTERNS:
        rows.append(((4, 7, 1, 1, p), False, p))  # patternNumber
        rows.append(((4, 7, 1, 2, p), True, 0))  # patternCycleTime
        rows.append(((4, 7, 1, 3, p), True, 0))  # patternOffsetTime
        rows.append(((4, 7, 1, 4, p), False, p))  # patternSplitNumber: pattern p uses split p
        rows.append(((4, 7, 1, 5, p), True, 1))  # patternSequenceNumber
    for s in SPLITS:
        for phase in PHASES:
            rows.append(((4, 9, 1, 3, s, phase), True, 0))  # splitTime
    rows.append(((4, 14, 0), True, 0))  # systemPatternControl
    return sorted((ASC + arcs, writable, default) for arcs, writable, default in rows)


OBJECTS = objects()
INDEX = {arcs: (writable, default) for arcs, writable, default in OBJECTS}


def parse(text):
    try:
        return tuple(int(part) for part in text.strip().strip(".").split("."))
    except ValueError:
        return None


def dotted(arcs):
    return "." + ".".join(str(arc) for arc in arcs)


def answer(*lines):
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def value_of(arcs):
    return load().get("values", {}).get(dotted(arcs), INDEX[arcs][1])


def main():
    while True:
        command = sys.stdin.readline()
        if not command:
            return
        command = command.strip()
        if command == "PING":
            answer("PONG")
        elif command == "get":
            arcs = parse(sys.stdin.readline())
            if arcs in INDEX:
                answer(dotted(arcs), "integer", str(value_of(arcs)))
            else:
                answer("NONE")
        elif command == "getnext":
            arcs = parse(sys.stdin.readline()) or ()
            following = [row for row in OBJECTS if row[0] > arcs]
            if following:
                answer(dotted(following[0][0]), "integer", str(value_of(following[0][0])))
            else:
                answer("NONE")
        elif command == "set":
            arcs = parse(sys.stdin.readline())
            kind, _, text = sys.stdin.readline().strip().partition(" ")
            state = load()
            if arcs not in INDEX or not INDEX[arcs][0]:
                answer("not-writable")
            elif dotted(arcs) in state.get("refuse", []):
                answer("not-writable")
            elif kind != "integer":
                answer("wrong-type")
            elif not text.strip().lstrip("-").isdigit() or not 0 <= int(text) <= 255:
                answer("wrong-value")
            else:
                state.setdefault("values", {})[dotted(arcs)] = int(text)
                save(state)
                answer("DONE")
        elif command == "":
            continue
        else:
            answer("NONE")


if __name__ == "__main__":
    main()
