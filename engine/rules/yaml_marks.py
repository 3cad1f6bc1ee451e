"""Rule files read with the line of every key and value, taken from the YAML nodes' own start marks, so an error
names the line where the faulty key or value stands (no searching the text for it)."""

from __future__ import annotations

import yaml


class MarkedMap(dict):
    """A mapping that knows the line of itself, of each key and of each value (1-based)."""

    line: int | None = None
    key_lines: dict = {}
    value_lines: dict = {}


class MarkedList(list):
    """A sequence that knows the line of itself and of each item (1-based)."""

    line: int | None = None
    item_lines: list = []


def line_of(container, key=None, value: bool = False) -> int | None:
    """The line of `container` itself, or of its entry `key` (the key's line, or the value's with value=True).
    A plain dict or list (built in code, not read from a file) has no line: None."""
    if key is None:
        return getattr(container, "line", None)
    if isinstance(container, MarkedMap):
        lines = container.value_lines if value else container.key_lines
        return lines.get(key, container.line)
    if isinstance(container, MarkedList) and isinstance(key, int) and 0 <= key < len(container.item_lines):
        return container.item_lines[key]
    return getattr(container, "line", None)


# libyaml parses several times faster when it is there; its nodes carry the same marks (lines)
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class MarkedLoader(_BASE):
    """yaml.SafeLoader whose mappings and sequences carry their lines; a key given twice in one mapping and an
    impossible date are refused at their own line (yaml.safe_load silently keeps the last key)."""

    def construct_marked_map(self, node):
        data = MarkedMap()
        yield data
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        data.update(self.construct_mapping(node))
        data.line = node.start_mark.line + 1
        data.key_lines, data.value_lines = {}, {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            data.key_lines[key] = key_node.start_mark.line + 1
            data.value_lines[key] = value_node.start_mark.line + 1

    def construct_marked_list(self, node):
        data = MarkedList()
        yield data
        data.extend(self.construct_sequence(node))
        data.line = node.start_mark.line + 1
        data.item_lines = [item.start_mark.line + 1 for item in node.value]

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(None, None, f"impossible date {node.value!r} ({exc})",
                                                    node.start_mark) from None


MarkedLoader.add_constructor("tag:yaml.org,2002:map", MarkedLoader.construct_marked_map)
MarkedLoader.add_constructor("tag:yaml.org,2002:seq", MarkedLoader.construct_marked_list)
MarkedLoader.add_constructor("tag:yaml.org,2002:timestamp", MarkedLoader.construct_yaml_timestamp)


def load(text: str):
    """The document, its mappings and sequences marked with their lines (raises yaml.YAMLError)."""
    return yaml.load(text, Loader=MarkedLoader)
