"""The top floor: the `driftline` command (`cli`), the demo, `replay` of prediction logs and the report's
data loading. It may import every lower package; nothing imports it, so it exports no names here."""
