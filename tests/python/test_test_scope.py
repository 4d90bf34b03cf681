"""Scoped data tests (macros/test_scope.sql, runner/test_scope.py): with var feeds_test_scope=changed
the tests of the incremental models read the rows the latest build wrote (and, for key tests, the
rows sharing their keys); without it they read whole tables; and the runner passes it only after a
build that passed every test.

Bad rows are planted in the built incremental tables: one among the rows of the latest build
(newest built_at and synced_watermark), one among older rows. A scoped test must report the first and not the
second (which an earlier build would have tested); a whole test reports both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import dbt_target
from workspace import REPO, Workspace, clean_environment

from runner.warehouse.demo import generate

DBT = Path(sys.executable).with_name("dbt")
AS_OF = datetime(2026, 1, 15, 12, 0, 0)
INITIAL = AS_OF - timedelta(days=2)
STEP_A = AS_OF
STEP_B = AS_OF + timedelta(hours=10)
SCOPED = {"feeds_test_scope": "changed"}


def feeds_run(space: Workspace) -> tuple[int, dict]:
    """`feeds run` without delivery: exit code and the run record's dbt section."""
    result = space.feeds("run", "--no-upload", "--json")
    try:
        record = json.loads(result.stdout)["run"]["dbt"]
    except (ValueError, KeyError):
        raise AssertionError(result.stdout + result.stderr) from None
    return result.returncode, record


def touch_orders(space: Workspace, orders: list[int], synced: datetime) -> None:
    """A new `_fivetran_synced` on the orders and their lines (a sync): the next build rewrites them."""
    ids = ", ".join(str(order) for order in orders)
    space.sql(f"""
        update shopify."order" set _fivetran_synced = '{synced}' where id in ({ids});
        update shopify.order_line set _fivetran_synced = '{synced}' where order_id in ({ids});""")


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Two builds: the first one whole, then an incremental one that rewrote five orders (STEP_A)."""
    space = Workspace(tmp_path_factory.mktemp("scope") / "space", generate_data=False)
    generate(space.duckdb, orders=600, seed=11, as_of=AS_OF)
    for table in ["order", "customer", "product", "shop", "collection", "order_line", "fulfillment", "refund",
                  "order_line_refund", "order_shipping_line", "order_discount_code", "product_variant",
                  "product_media", "media_image", "collection_product", "product_tag"]:
        space.sql(f"update shopify.\"{table}\" set _fivetran_synced = '{INITIAL}'")
    # The newest order, customer and product a day later: the first build's watermark, whose lookback
    # (3 h) the other rows fall outside of, so the next build rewrites only what changed.
    for table in ["order", "customer", "product"]:
        space.sql(f"""update shopify."{table}" set _fivetran_synced = '{AS_OF - timedelta(days=1)}'
                      where id = (select max(id) from shopify."{table}")""")
    code, first = feeds_run(space)
    assert code == 0 and first["test_scope"]["tests"] == "whole tables", first
    touch_orders(space, changed_orders(space), STEP_A)
    code, second = feeds_run(space)
    assert code == 0, second
    assert {key: second["test_scope"][key] for key in ("tests", "reason")} == {
        "tests": "changed rows", "reason": "the previous build passed every test"}
    return space


def changed_orders(space: Workspace) -> list[int]:
    """Five live orders with two lines or more."""
    return [row[0] for row in space.sql("""
        select order_id from shopify.order_line group by order_id having count(*) >= 2
        order by order_id limit 5""")]


def dbt_test(database: Path, target: Path, select: str, scoped: bool, project: Path = REPO,
             extra: dict | None = None) -> dict[str, int]:
    """`dbt test` by hand on `database` (with or without the scope var, and `extra` vars): failing
    rows per test; its log in `target`. Run from the database's folder with the path relative, and
    into a target folder this pytest process keeps per project and vars, so dbt's partial parse
    serves every store (runner.build does the same for feeds)."""
    variables = dbt_test_vars(database, scoped, extra)
    shared = dbt_test_target(project, variables)
    results = shared / "run_results.json"
    results.unlink(missing_ok=True)
    result = subprocess.run(
        [str(DBT), "test", "--project-dir", str(project), "--profiles-dir", str(project / "profiles"),
         "--target-path", str(shared), "--log-path", str(target / "logs"), "--select", select,
         "--exclude-resource-type", "unit_test", "--vars", json.dumps(variables)],
        capture_output=True, text=True, check=False, env=clean_environment(), timeout=600, cwd=database.parent)
    assert results.exists(), result.stdout + result.stderr
    return {item["unique_id"].split(".")[2]: int(item["failures"] or 0)
            for item in json.loads(results.read_text(encoding="utf-8"))["results"]}


def dbt_test_vars(database: Path, scoped: bool, extra: dict | None = None) -> dict:
    return {"feeds_duckdb_path": database.name, **(SCOPED if scoped else {}), **(extra or {})}


def dbt_test_target(project: Path, variables: dict) -> Path:
    """dbt_test's target folder for this project and these vars, in this pytest process."""
    return dbt_target(project, variables)


@pytest.fixture
def store(space: Workspace, tmp_path: Path) -> Path:
    """A copy of the built store to plant bad rows in."""
    copy = tmp_path / "store.duckdb"
    shutil.copy(space.duckdb, copy)
    return copy


def sql(database: Path, statement: str) -> list[tuple]:
    with duckdb.connect(str(database)) as connection:
        return connection.execute(statement).fetchall()


def newest_and_older(database: Path, model: str, count: int, where: str = "true") -> tuple[list[int], list[int]]:
    """`count` orders among the latest build's rows of `model` and `count` among the older rows
    (of the rows `where` holds for)."""
    newest = f"(select max(synced_watermark) from main.{model})"
    found = [
        [row[0] for row in sql(database, f"select distinct order_id from main.{model}"
                                         f" where {where} and synced_watermark {op} {newest} order by 1 limit {count}")]
        for op in ("=", "<")
    ]
    assert all(len(orders) == count for orders in found), found
    return found[0], found[1]


def test_a_row_local_test_reads_the_rows_of_the_latest_build(store: Path, tmp_path: Path) -> None:
    (changed,), (unchanged,) = newest_and_older(store, "int_orders_prepared", 1)
    sql(store, f"update main.int_orders_prepared set source_id = null where order_id in ({changed}, {unchanged})")
    test = "not_null_int_orders_prepared_source_id"
    assert dbt_test(store, tmp_path / "scoped", test, scoped=True) == {test: 1}
    assert dbt_test(store, tmp_path / "whole", test, scoped=False) == {test: 2}


def test_a_model_rebuilt_whole_is_tested_whole_in_a_scoped_build(store: Path, tmp_path: Path) -> None:
    """The runner names the models it rebuilds whole in var feeds_test_whole: their tests read the
    whole table (every row is new), the other models' stay scoped."""
    (changed,), (unchanged,) = newest_and_older(store, "int_orders_prepared", 1)
    sql(store, f"update main.int_orders_prepared set source_id = null where order_id in ({changed}, {unchanged})")
    tests = "not_null_int_orders_prepared_source_id unique_int_orders_prepared_source_id"
    rebuilt = dbt_test(store, tmp_path / "rebuilt", tests, scoped=True, extra={"feeds_test_whole": ["int_orders_prepared"]})
    other = dbt_test(store, tmp_path / "other", tests, scoped=True, extra={"feeds_test_whole": ["int_products_prepared"]})
    assert rebuilt["not_null_int_orders_prepared_source_id"] == 2
    assert other["not_null_int_orders_prepared_source_id"] == 1
    # The key test's whole form: no subquery over the newest rows' keys.
    target = dbt_test_target(REPO, dbt_test_vars(store, True, {"feeds_test_whole": ["int_orders_prepared"]}))
    compiled = (target / "run").rglob("unique_int_orders_prepared_source_id.sql")
    assert "source_id in (select" not in next(compiled).read_text(encoding="utf-8")
    target = dbt_test_target(REPO, dbt_test_vars(store, True, {"feeds_test_whole": ["int_products_prepared"]}))
    compiled = (target / "run").rglob("unique_int_orders_prepared_source_id.sql")
    assert "source_id in (select" in next(compiled).read_text(encoding="utf-8")


def test_a_changed_row_duplicating_an_unchanged_key_fails_unique(store: Path, tmp_path: Path) -> None:
    (changed, _, _), (unchanged, old, other) = newest_and_older(store, "int_orders_prepared", 3)
    # Changed onto unchanged: found when scoped. Two older rows on one key: left to an earlier build.
    sql(store, f"""
        update main.int_orders_prepared set source_id = '{unchanged}' where order_id = {changed};
        update main.int_orders_prepared set source_id = '{old}' where order_id = {other};""")
    test = "unique_int_orders_prepared_source_id"
    assert dbt_test(store, tmp_path / "scoped", test, scoped=True) == {test: 1}
    assert dbt_test(store, tmp_path / "whole", test, scoped=False) == {test: 2}


def test_a_compound_key_test_matches_null_parts_too(store: Path, tmp_path: Path) -> None:
    model = "int_order_lines_merged"
    (first, second, _), (taken, nulled, doubled) = newest_and_older(store, model, 3, "sku is not null")
    one_line = "order_id = {} and sku = (select min(sku) from main.{} where order_id = {})"
    sql(store, f"""
        -- A changed line onto an unchanged line's (order, sku).
        update main.{model} set order_id = {taken}, sku = (select min(sku) from main.{model} where order_id = {taken})
            where {one_line.format(first, model, first)};
        -- A changed line onto an unchanged line's (order, null): null matches null.
        update main.{model} set sku = null where {one_line.format(nulled, model, nulled)};
        update main.{model} set order_id = {nulled}, sku = null where {one_line.format(second, model, second)};
        -- Two unchanged lines on one (order, sku).
        insert into main.{model} select * from main.{model} where {one_line.format(doubled, model, doubled)};
        """)
    test = "listrak_unique_combination_int_order_lines_merged_order_id__sku"
    assert dbt_test(store, tmp_path / "scoped", test, scoped=True) == {test: 2}
    assert dbt_test(store, tmp_path / "whole", test, scoped=False) == {test: 3}


def test_model_level_text_tests_and_seed_lookups_read_a_scoped_subquery(store: Path, tmp_path: Path) -> None:
    """no_html_markup and no_line_breaks find the text columns of a subquery, and value_in_seed
    joins one, as on the marts once those are incremental: here on a copy of the project whose
    int_orders_prepared carries those tests too."""
    project = tmp_path / "project"
    for name in ("models", "macros", "seeds", "profiles"):
        shutil.copytree(REPO / name, project / name)
    shutil.copy(REPO / "dbt_project.yml", project / "dbt_project.yml")
    models = project / "models" / "intermediate" / "_intermediate__models.yml"
    document = yaml.safe_load(models.read_text(encoding="utf-8"))
    (orders,) = [model for model in document["models"] if model["name"] == "int_orders_prepared"]
    orders["data_tests"] = ["no_html_markup", "no_line_breaks"]
    (status,) = [column for column in orders["columns"] if column["name"] == "Status"]
    status["data_tests"] = [{"value_in_seed": {"arguments": {"to": "ref('listrak_status_codes')", "field": "code"}}}]
    models.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    (changed,), (unchanged,) = newest_and_older(store, "int_orders_prepared", 1)
    sql(store, f"""update main.int_orders_prepared set "TrackingNumber" = 'one <b>two</b>' || chr(10) || 'three',
        "Status" = 999 where order_id in ({changed}, {unchanged})""")
    wanted = ("no_html_markup_", "no_line_breaks_", "value_in_seed_")

    def failures(scoped: bool) -> dict[str, int]:
        found = dbt_test(store, tmp_path / ("scoped" if scoped else "whole"), "int_orders_prepared", scoped, project)
        return {name.split("_int_orders")[0]: count for name, count in found.items() if name.startswith(wanted)}

    assert failures(scoped=True) == {"no_html_markup": 1, "no_line_breaks": 1, "value_in_seed": 1}
    assert failures(scoped=False) == {"no_html_markup": 2, "no_line_breaks": 2, "value_in_seed": 2}

def test_a_failed_build_makes_the_next_build_test_whole_tables(space: Workspace, tmp_path: Path) -> None:
    copy = Workspace(tmp_path / "space", generate_data=False)
    shutil.copy(space.duckdb, copy.duckdb)
    code, first = feeds_run(copy)  # a warehouse new to this state: rebuilt and tested whole
    assert code == 0 and first["test_scope"]["tests"] == "whole tables", first
    code, second = feeds_run(copy)
    assert code == 0 and second["test_scope"]["tests"] == "changed rows", second

    # A bad row among the latest build's (the newest built_at, which the builds after it do not
    # pass here: they rewrite only the touched orders): the scoped build fails.
    touched = changed_orders(copy)
    (bad,) = copy.sql(f"""select min(order_id) from main.int_orders_prepared
        where order_id not in ({', '.join(map(str, touched))})""")[0]
    copy.sql(f"""update main.int_orders_prepared set source_id = null,
        built_at = (select max(built_at) from main.int_orders_prepared) + interval 1 day where order_id = {bad}""")
    code, failed = feeds_run(copy)
    assert code == 1 and failed["test_scope"]["tests"] == "changed rows", failed
    assert "not_null_int_orders_prepared_source_id" in {item["name"] for item in failed["failures"]}

    # Another order changes: after a failed build the tables are tested whole; it fails again.
    touch_orders(copy, touched[:1], STEP_B)
    code, again = feeds_run(copy)
    assert again["test_scope"] == {"tests": "whole tables", "reason": "the previous build did not pass every test"}
    assert code == 1, again
    assert "not_null_int_orders_prepared_source_id" in {item["name"] for item in again["failures"]}

    # Mended: tested whole once more, then scoped again.
    copy.sql(f"update main.int_orders_prepared set source_id = '{bad}' where order_id = {bad}")
    code, mended = feeds_run(copy)
    assert code == 0 and mended["test_scope"]["tests"] == "whole tables", mended
    code, after = feeds_run(copy)
    assert code == 0 and after["test_scope"]["tests"] == "changed rows", after


def test_a_changed_test_definition_makes_the_next_build_test_whole_tables(space: Workspace) -> None:
    from runner import test_scope

    manifest = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "manifest.json").read_text(encoding="utf-8"))
    state = space.root / "state"
    (warehouse,) = json.loads((state / test_scope.STATE_FILE).read_text(encoding="utf-8"))
    selection = json.loads((state / test_scope.STATE_FILE).read_text(encoding="utf-8"))[warehouse]["selection"]
    assert test_scope.decide(manifest, REPO, state, warehouse, selection, False).changed_only
    test = next(node for node in manifest["nodes"].values() if node["name"].startswith("max_length_"))
    test["test_metadata"]["kwargs"]["length"] = 1
    scope = test_scope.decide(manifest, REPO, state, warehouse, selection, False)
    assert (scope.changed_only, scope.reason) == (False, "tests, macros or seeds changed since the previous build")
    assert not test_scope.decide(manifest, REPO, state, warehouse, selection[:1], False).changed_only
    assert not test_scope.decide(manifest, REPO, state, warehouse, selection, True).changed_only


def test_a_kept_views_unique_test_reads_the_changed_entities_rows(space: Workspace, tmp_path: Path) -> None:
    """A view the build keeps (staging over the raw tables) has its unique tests scoped to the rows
    sharing an id with a row of the entities synced since the last build (meta feeds_test_scope):
    a raw row synced now that duplicates an unchanged line's id fails the scoped build; two old
    rows on one id are left to the earlier builds, which tested them, and found by the whole test
    the build after a failure runs."""
    copy = Workspace(tmp_path / "space", generate_data=False)
    shutil.copy(space.duckdb, copy.duckdb)
    code, first = feeds_run(copy)
    assert code == 0 and first["test_scope"]["tests"] == "whole tables", first
    code, second = feeds_run(copy)
    assert code == 0 and second["test_scope"]["tests"] == "changed rows", second
    assert "stg_shopify__order_lines" in second["kept_views"], second
    # The orders synced within the lookback of the last build's watermark (the touched ones).
    before = second["test_scope"]["views_by_changed_keys"]["stg_shopify__order_lines"]
    assert before == len(changed_orders(copy)), second

    ((old, new),) = copy.sql("""select min(id), max(id) from shopify.order_line
        where order_id not in (select order_id from main.int_orders_prepared
                               where built_at = (select max(built_at) from main.int_orders_prepared))""")
    copy.sql(f"""
        insert into shopify.order_line select * from shopify.order_line where id = {old};
        insert into shopify.order_line select * replace (cast('{STEP_B}' as timestamp) as _fivetran_synced)
            from shopify.order_line where id = {new};""")
    code, scoped = feeds_run(copy)
    assert code == 1 and scoped["test_scope"]["tests"] == "changed rows", scoped
    assert scoped["test_scope"]["views_by_changed_keys"]["stg_shopify__order_lines"] == before + 1, scoped
    failures = {item["name"]: item["failures"] for item in scoped["failures"]}
    assert failures["unique_stg_shopify__order_lines_order_line_id"] == 1, failures

    code, whole = feeds_run(copy)
    assert code == 1 and whole["test_scope"]["tests"] == "whole tables", whole
    failures = {item["name"]: item["failures"] for item in whole["failures"]}
    assert failures["unique_stg_shopify__order_lines_order_line_id"] == 2, failures


def test_a_feeds_run_runs_one_row_rules_test_a_model_for_the_rules_it_covers(space: Workspace, tmp_path: Path) -> None:
    """feeds run leaves the row rules of the marts and rejects (not_null, max_length, ...) out of
    the build and runs one feeds_row_rules test per model over the same rows instead; the other
    tests (keys, warnings, seed lookups, whole-table counts) run as themselves."""
    from runner import test_batch

    copy = Workspace(tmp_path / "space", generate_data=False)
    shutil.copy(space.duckdb, copy.duckdb)
    code, record = feeds_run(copy)
    assert code == 0, record
    ran = {item["unique_id"].split(".")[2] for item in
           json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json").read_text(encoding="utf-8"))["results"]}
    manifest = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "manifest.json").read_text(encoding="utf-8"))
    tests = {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "test"}
    covered = {name for name, node in tests.items() if name not in ran}
    batches = {name for name, node in tests.items() if (node.get("test_metadata") or {}).get("name") == test_batch.TEST}
    assert batches == {f"{mart}{suffix}_row_rules" for mart in ("listrak_orders", "listrak_order_items",
                       "listrak_customers", "listrak_products") for suffix in ("", "_rejects")}
    assert batches <= ran
    assert record["row_rules"] == {
        name: sum(1 for other in covered if tests[other].get("attached_node") == tests[name]["attached_node"])
        for name in sorted(batches)}, record["row_rules"]
    assert sum(record["row_rules"].values()) >= 100, record["row_rules"]
    for kept in ("not_null_listrak_orders__Email_", "max_length_listrak_products__Title___500",
                 "accepted_values_listrak_orders_rejects_kind__quarantined__excluded__truncated",
                 "listrak_orders_text_has_no_line_breaks"):
        assert kept in covered, kept
    # Run as themselves: key tests, a warning, a seed lookup, a rule with the clock, counts.
    for own in ("unique_listrak_orders__OrderNumber_", "listrak_orders_text_has_no_markup",
                "value_in_seed_listrak_orders__Status___code__ref_listrak_status_codes_",
                "listrak_orders_accounts_for_every_row"):
        assert own in ran, own
    assert any(name.startswith("listrak_accepted_range_listrak_customers__Birthday") for name in ran)


def test_a_rule_a_row_rules_test_covers_fails_under_its_own_name(space: Workspace, tmp_path: Path) -> None:
    """A mart row over a maximum length (planted among the latest build's rows): feeds run fails naming the max_length test and its
    failing rows, as a build without the batching does (the runner runs the covered rules of a
    failing feeds_row_rules test one by one); `dbt test` by hand reports both the rule and the
    feeds_row_rules test, which covers the same rules without the runner's var."""
    copy = Workspace(tmp_path / "space", generate_data=False)
    shutil.copy(space.duckdb, copy.duckdb)
    code, _ = feeds_run(copy)
    assert code == 0
    code, second = feeds_run(copy)
    assert code == 0 and second["test_scope"]["tests"] == "changed rows", second
    copy.sql("""update main.listrak_orders set "ShippingMethod" = repeat('x', 40),
        built_at = (select max(built_at) from main.listrak_orders) + interval 1 day
        where "OrderNumber" = (select min("OrderNumber") from main.listrak_orders)""")
    result = copy.feeds("run", "--no-upload", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = json.loads(result.stdout)["run"]["dbt"]
    assert {(item["name"], item["failures"]) for item in failed["failures"]} == {
        ("max_length_listrak_orders__ShippingMethod___32", 1)}, failed["failures"]
    assert "max_length_listrak_orders__ShippingMethod___32 on listrak_orders" in result.stderr, result.stderr

    found = dbt_test(copy.duckdb, tmp_path / "by-hand", "listrak_orders", scoped=False)
    assert found["max_length_listrak_orders__ShippingMethod___32"] == 1
    assert found["listrak_orders_row_rules"] == 1  # one rule fails
    assert sum(found.values()) == 2, {name: count for name, count in found.items() if count}


def test_the_row_rules_macro_and_the_runner_cover_the_same_tests(space: Workspace, tmp_path: Path) -> None:
    """Without the runner's var, each feeds_row_rules test covers what runner.test_batch.fits()
    takes (macro feeds_row_rule_fits is its twin): its compiled SQL names exactly those tests."""
    import re

    from runner import test_batch

    dbt_test(space.duckdb, tmp_path / "by-hand", "test_name:feeds_row_rules", scoped=False)
    target = dbt_test_target(REPO, dbt_test_vars(space.duckdb, False))
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    nodes = [(uid, node["resource_type"], uid) for uid, node in manifest["nodes"].items()]
    batch = test_batch.plan(manifest, nodes)
    assert len(batch.members) == 8
    for name, members in batch.members.items():
        compiled = next((target / "run").rglob(f"{name}.sql")).read_text(encoding="utf-8")
        named = set(re.findall(r"select '([^']+)' as feeds_rule", compiled))
        assert named == {manifest["nodes"][uid]["name"] for uid in members}, name
