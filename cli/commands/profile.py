"""`sextant profile list|show NAME`: the shipped strategy profiles and what each changes."""

import argparse
import json

from cli.common import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="list the strategy profiles or show what one changes")
    verbs = p.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="the shipped profiles, the default marked").set_defaults(
        handler=handle_list
    )
    show = verbs.add_parser("show", help="a profile's settings against the spec's, and its "
                            "effective score weights against the spec's ranges")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="one JSON document")
    show.set_defaults(handler=handle_show)


def handle_list(args: argparse.Namespace) -> int:
    from sextant.profiles import DEFAULT_PROFILE, available_profiles
    from sextant.profiles.describe import summary

    for name in available_profiles():
        mark = "*" if name == DEFAULT_PROFILE else " "
        print(f"{mark} {name:<14} {summary(name)}")
    print("(* = the default profile; choose one with --profile NAME or SEXTANT_PROFILE)")
    return EXIT_OK


def handle_show(args: argparse.Namespace) -> int:
    from sextant.config import load_settings
    from sextant.profiles.describe import changes, summary
    from sextant.risk.weights import weight_table

    chosen = load_settings(profile=args.name)
    spec = load_settings(profile="spec")
    diff = changes(chosen, spec)
    table = weight_table(chosen.risk)
    if args.json:
        doc = {
            "profile": args.name,
            "summary": summary(args.name),
            "changes": [{"setting": k, "spec": a, "value": b} for k, a, b in diff],
            "effective_weights": table,
        }
        print(json.dumps(doc, indent=1))
        return EXIT_OK
    print(f"profile {args.name}: {summary(args.name)}")
    print(f"\nsettings that differ from the spec profile ({len(diff)}):")
    for key, before, after in diff:
        print(f"  {key:<44} {json.dumps(before):>14} -> {json.dumps(after)}")
    print("\neffective score weights (weights.redistribution = "
          f"{chosen.risk.weight_redistribution}); [lo-hi] = the spec's range, ! = outside it:")
    print(f"  {'regime':<9} {'available':<28} " + " ".join(f"{c[:8]:>9}" for c in
                                                             table[0]["weights"]))
    for row in table:
        cells = []
        for comp, w in row["weights"].items():
            flag = "!" if comp in row["outside"] else " "
            cells.append(f"{w:8.3f}{flag}")
        print(f"  {row['regime']:<9} {row['case']:<28} " + " ".join(cells)
              + f"   sum {row['total']:.3f}")
    return EXIT_OK
