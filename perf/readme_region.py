"""Replaces a marked region of the README: the text between `<!-- results:NAME:begin -->` and
`<!-- results:NAME:end -->`, inserting the markers after the first anchor found if they are
missing. Shared by the report scripts that write a results section."""


def replace_region(readme_path, name, text, anchors):
    begin_mark, end_mark = f"<!-- results:{name}:begin -->", f"<!-- results:{name}:end -->"
    with open(readme_path, encoding="utf-8") as f:
        content = f.read()
    begin, end = content.find(begin_mark), content.find(end_mark)
    if begin < 0 or end < begin:
        anchor = next((a for a in anchors if a in content), None)
        if anchor is None:
            raise SystemExit(f"{readme_path} has neither {begin_mark} ... {end_mark} nor any of "
                             f"{anchors}")
        at = content.find(anchor) + len(anchor)
        content = content[:at] + f"\n\n{begin_mark}\n{end_mark}" + content[at:]
        begin, end = content.find(begin_mark), content.find(end_mark)
    content = content[:begin + len(begin_mark)] + "\n" + text + "\n" + content[end:]
    with open(readme_path, "w", encoding="utf-8") as f:
        f.write(content)
