"""The configuration reference, generated from the settings declaration (docs/CONFIGURATION.md)."""

from __future__ import annotations

from oracle.config.settings import ENV_PREFIX, iter_reference, preset_names


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from `oracle/config/settings.py` by `pool-oracle config-reference`; a test keeps it current.",
        "",
        "Settings are read from the YAML file given with `--config`, on top of the network preset it names",
        f"with `preset:` (one of: {', '.join(f'`{p}`' for p in preset_names())}), and each can be overridden",
        f"by an environment variable `{ENV_PREFIX}<SECTION>_<KEY>` (lists as comma-separated values). Invalid",
        "settings are reported one line each, and the daemon exits with code 2 before starting anything.",
        "",
        "With no signer the daemon runs as an auditor: it proves, reconciles and reports drift, and never sends.",
        "",
        "| setting | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for key, env, default, help_text in iter_reference():
        if not help_text:
            continue
        lines.append(f"| `{key}` | `{env}` | `{default}` | {help_text} |")
    return "\n".join(lines) + "\n"
