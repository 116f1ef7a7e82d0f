"""SQLitePropertyManager: the WsgiDAV property-manager interface over SQLite."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from wsgidav import xml_tools
from wsgidav.dav_error import HTTP_INSUFFICIENT_STORAGE, DAVError

from davserver.dav.prop_store import SQLitePropertyManager

pytestmark = pytest.mark.unit

COLOR = "{urn:example:}color"
SIZE = "{urn:example:}size"


def xml(name: str, text: str) -> bytes:
    """A value as WsgiDAV hands it to write_property: ``etree.tostring(element)``."""
    element = etree.Element(name)
    element.text = text
    return bytes(etree.tostring(element))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "dav.sqlite"


@pytest.fixture
def props(db_path: Path) -> Iterator[SQLitePropertyManager]:
    manager = SQLitePropertyManager(db_path)
    yield manager
    manager.close()


def snapshot(props: SQLitePropertyManager, *urls: str) -> dict[str, dict[str, bytes | None]]:
    return {
        url: {name: props.get_property(url, name) for name in props.get_properties(url)}
        for url in urls
    }


def test_write_read_remove(props: SQLitePropertyManager) -> None:
    assert props.get_properties("/a.txt") == []
    assert props.get_property("/a.txt", COLOR) is None

    props.write_property("/a.txt", SIZE, xml(SIZE, "10"))
    props.write_property("/a.txt", COLOR, xml(COLOR, "red"))
    assert props.get_properties("/a.txt") == [COLOR, SIZE]
    assert props.get_property("/a.txt", COLOR) == xml(COLOR, "red")

    props.write_property("/a.txt", COLOR, xml(COLOR, "blue"))
    assert props.get_property("/a.txt", COLOR) == xml(COLOR, "blue")

    props.remove_property("/a.txt", COLOR)
    props.remove_property("/a.txt", COLOR)  # removing an absent property is no error
    assert props.get_properties("/a.txt") == [SIZE]
    props.remove_properties("/a.txt")
    assert props.get_properties("/a.txt") == []


def test_value_round_trips_through_wsgidav_parser(props: SQLitePropertyManager) -> None:
    element = etree.Element(COLOR, nsmap={"x": "urn:example:"})
    etree.SubElement(element, "{urn:example:}shade").text = "d\u00e9j\u00e0 \U0001f600"
    props.write_property("/a", COLOR, etree.tostring(element))
    value = props.get_property("/a", COLOR)
    assert isinstance(value, bytes)
    parsed = xml_tools.string_to_xml(value)
    assert parsed.find("{urn:example:}shade").text == "d\u00e9j\u00e0 \U0001f600"


def test_str_values_are_stored_as_utf8(props: SQLitePropertyManager) -> None:
    props.write_property("/a", COLOR, '<color xmlns="urn:example:">gr\u00fcn</color>')
    assert (
        props.get_property("/a", COLOR) == '<color xmlns="urn:example:">gr\u00fcn</color>'.encode()
    )


def test_dry_run_changes_nothing(props: SQLitePropertyManager) -> None:
    props.write_property("/a", COLOR, xml(COLOR, "red"), dry_run=True)
    assert props.get_properties("/a") == []
    props.write_property("/a", COLOR, xml(COLOR, "red"))
    props.remove_property("/a", COLOR, dry_run=True)
    assert props.get_properties("/a") == [COLOR]


def test_trailing_slash_names_the_same_resource(props: SQLitePropertyManager) -> None:
    props.write_property("/dir/", COLOR, xml(COLOR, "red"))
    assert props.get_properties("/dir") == [COLOR]
    assert props.get_property("/dir/", COLOR) == xml(COLOR, "red")


def test_copy_replaces_destination_without_children(props: SQLitePropertyManager) -> None:
    props.write_property("/src", COLOR, xml(COLOR, "red"))
    props.write_property("/src/child", COLOR, xml(COLOR, "green"))
    props.write_property("/dest", SIZE, xml(SIZE, "1"))

    props.copy_properties("/src", "/dest")

    assert snapshot(props, "/src", "/dest", "/dest/child") == {
        "/src": {COLOR: xml(COLOR, "red")},
        "/dest": {COLOR: xml(COLOR, "red")},
        "/dest/child": {},
    }
    props.copy_properties("/src", "/src")
    assert props.get_properties("/src") == [COLOR]


def test_move_without_children(props: SQLitePropertyManager) -> None:
    props.write_property("/a/b", COLOR, xml(COLOR, "red"))
    props.write_property("/a/b/c", COLOR, xml(COLOR, "green"))
    props.write_property("/x", SIZE, xml(SIZE, "1"))

    props.move_properties("/a/b", "/x", with_children=False)

    assert snapshot(props, "/a/b", "/a/b/c", "/x") == {
        "/a/b": {},
        "/a/b/c": {COLOR: xml(COLOR, "green")},
        "/x": {COLOR: xml(COLOR, "red")},
    }


SIBLINGS = ["/a/bc", "/a/bc/d", "/a/b.txt", "/a/b%20c", "/a/b_", "/a/b-", "/a/a", "/a"]


def test_move_with_children_spares_siblings_sharing_a_prefix(
    props: SQLitePropertyManager,
) -> None:
    subtree = ["/a/b", "/a/b/c", "/a/b/c/d", "/a/b/%25"]
    for url in subtree + SIBLINGS:
        props.write_property(url, COLOR, xml(COLOR, url))

    props.move_properties("/a/b/", "/x/y/", with_children=True)

    for url in SIBLINGS:
        assert props.get_property(url, COLOR) == xml(COLOR, url), url
    for url in subtree:
        assert props.get_properties(url) == [], url
        moved = "/x/y" + url[len("/a/b") :]
        assert props.get_property(moved, COLOR) == xml(COLOR, url), moved


def test_move_with_children_ignores_like_wildcards(props: SQLitePropertyManager) -> None:
    props.write_property("/a_b/c", COLOR, xml(COLOR, "inside"))
    props.write_property("/axb/c", COLOR, xml(COLOR, "outside"))
    props.write_property("/a%/c", COLOR, xml(COLOR, "percent"))
    props.write_property("/abc/d", COLOR, xml(COLOR, "other"))

    props.move_properties("/a_b", "/moved", with_children=True)
    props.move_properties("/a%", "/moved2", with_children=True)

    assert props.get_property("/moved/c", COLOR) == xml(COLOR, "inside")
    assert props.get_property("/moved2/c", COLOR) == xml(COLOR, "percent")
    assert props.get_property("/axb/c", COLOR) == xml(COLOR, "outside")
    assert props.get_property("/abc/d", COLOR) == xml(COLOR, "other")


def test_move_with_children_replaces_destination_subtree(props: SQLitePropertyManager) -> None:
    props.write_property("/src", COLOR, xml(COLOR, "src"))
    props.write_property("/src/keep", COLOR, xml(COLOR, "keep"))
    props.write_property("/dest", SIZE, xml(SIZE, "old"))
    props.write_property("/dest/stale", SIZE, xml(SIZE, "old"))
    props.write_property("/destination", SIZE, xml(SIZE, "sibling"))

    props.move_properties("/src", "/dest", with_children=True)

    assert snapshot(props, "/src", "/src/keep", "/dest", "/dest/keep", "/dest/stale") == {
        "/src": {},
        "/src/keep": {},
        "/dest": {COLOR: xml(COLOR, "src")},
        "/dest/keep": {COLOR: xml(COLOR, "keep")},
        "/dest/stale": {},
    }
    assert props.get_properties("/destination") == [SIZE]


def test_move_onto_an_ancestor(props: SQLitePropertyManager) -> None:
    props.write_property("/a", SIZE, xml(SIZE, "old"))
    props.write_property("/a/b", COLOR, xml(COLOR, "b"))
    props.write_property("/a/b/b/x", COLOR, xml(COLOR, "deep"))

    props.move_properties("/a/b", "/a", with_children=True)

    assert snapshot(props, "/a", "/a/b", "/a/b/x", "/a/x") == {
        "/a": {COLOR: xml(COLOR, "b")},
        "/a/b": {},
        "/a/b/x": {COLOR: xml(COLOR, "deep")},
        "/a/x": {},
    }


def test_remove_properties_takes_descendants_but_not_siblings(
    props: SQLitePropertyManager,
) -> None:
    for url in ["/d", "/d/f", "/d/e/f", "/dx", "/d.txt"]:
        props.write_property(url, COLOR, xml(COLOR, url))
    props.remove_properties("/d/")
    assert [
        url for url in ["/d", "/d/f", "/d/e/f", "/dx", "/d.txt"] if props.get_properties(url)
    ] == [
        "/dx",
        "/d.txt",
    ]


def test_limits(db_path: Path) -> None:
    props = SQLitePropertyManager(
        db_path, max_value_bytes=100, max_name_bytes=40, max_properties_per_resource=2
    )
    big = b"<v>" + b"x" * 100 + b"</v>"
    for dry_run in (True, False):
        with pytest.raises(DAVError) as info:
            props.write_property("/a", COLOR, big, dry_run=dry_run)
        assert info.value.value == HTTP_INSUFFICIENT_STORAGE
        with pytest.raises(DAVError) as info:
            props.write_property("/a", "{urn:example:}" + "n" * 30, b"<v/>", dry_run=dry_run)
        assert info.value.value == HTTP_INSUFFICIENT_STORAGE

    props.write_property("/a", "{urn:x}one", b"<v/>")
    props.write_property("/a", "{urn:x}two", b"<v/>")
    for dry_run in (True, False):
        with pytest.raises(DAVError) as info:
            props.write_property("/a", "{urn:x}three", b"<v/>", dry_run=dry_run)
        assert info.value.value == HTTP_INSUFFICIENT_STORAGE
    props.write_property("/a", "{urn:x}two", b"<v>2</v>")  # replacing is always possible
    props.write_property("/b", "{urn:x}three", b"<v/>")  # the bound is per resource
    assert props.get_properties("/a") == ["{urn:x}one", "{urn:x}two"]


def test_malformed_arguments(props: SQLitePropertyManager) -> None:
    with pytest.raises(ValueError):
        props.write_property("relative", COLOR, b"<v/>")
    with pytest.raises(ValueError):
        props.write_property("/a", "", b"<v/>")
    with pytest.raises(ValueError):
        props.get_properties("")


def test_two_instances_share_data(db_path: Path) -> None:
    one = SQLitePropertyManager(db_path)
    two = SQLitePropertyManager(db_path)
    one.write_property("/a", COLOR, xml(COLOR, "red"))
    assert two.get_property("/a", COLOR) == xml(COLOR, "red")
    two.move_properties("/a", "/b", with_children=True)
    assert one.get_properties("/a") == []
    assert one.get_property("/b", COLOR) == xml(COLOR, "red")
    one.clear()
    assert two.get_properties("/b") == []


def test_count_bound_holds_under_concurrent_writers(db_path: Path) -> None:
    limit = 5
    managers = [SQLitePropertyManager(db_path, max_properties_per_resource=limit) for _ in range(4)]
    refused: list[int] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        for n in range(5):
            try:
                managers[index].write_property("/hot", f"{{urn:x}}p{index}-{n}", b"<v/>")
            except DAVError as exc:
                with lock:
                    refused.append(exc.value)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(managers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(managers[0].get_properties("/hot")) == limit
    assert refused == [HTTP_INSUFFICIENT_STORAGE] * (20 - limit)


def test_close_then_reuse(props: SQLitePropertyManager) -> None:
    props.write_property("/a", COLOR, xml(COLOR, "red"))
    props.close()
    assert props.get_properties("/a") == [COLOR]
    props._dump("after reopen")
