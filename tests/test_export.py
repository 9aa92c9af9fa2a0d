"""`gpuplan export`: every example plan exports to every target, each artefact validates against its
published schema, and reading the artefacts back gives exactly what the plan assumed (round trip).

The parsers here are independent of planner.export: they read the scripts, YAML and JSON as a user's
tools would and map each engine's flags back to planning terms with that engine's documented semantics.
Each example is planned once per engine per session (module fixture).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from catalog.loader import load_catalog
from planner.export import TARGETS, ExportResult, export_plan
from planner.export.engine_args import engine_args
from planner.export.fleet import ExportRefused
from planner.inputs import load_inputs
from planner.plan import make_plan
from planner.result import Plan, ReplicaGroup
from tests.support import gpuplan

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SCHEMAS = ROOT / "tests" / "data" / "schemas"
ENGINES = ("vllm", "sglang", "trtllm")
# Pre-quantised FP8 checkpoints (NVIDIA ModelOpt exports) for TensorRT-LLM, which does not quantise at load.
FP8_CHECKPOINTS = {
    "llama-3.1-8b": "nvidia/Llama-3.1-8B-Instruct-FP8",
    "llama-3.3-70b": "nvidia/Llama-3.3-70B-Instruct-FP8",
}


@pytest.fixture(scope="module")
def catalog() -> Any:
    return load_catalog()


class _Plans(dict[tuple[str, str], Plan]):
    """(example stem, engine) -> its plan with that engine's profile, planned on first use only."""

    def __missing__(self, key: tuple[str, str]) -> Plan:
        inputs = load_inputs(ROOT / "examples" / f"{key[0]}.yaml")
        search = inputs.spec.search.model_copy(update={"engine": key[1]})
        plan = make_plan(dataclasses.replace(inputs, spec=inputs.spec.model_copy(update={"search": search})))
        self[key] = plan
        return plan


@pytest.fixture(scope="module")
def plans() -> _Plans:
    return _Plans()


def _groups(plan: Plan) -> list[ReplicaGroup]:
    return [g for a in plan.allocations for g in a.replicas]


def _export(plan: Plan, target: str, catalog: Any) -> ExportResult:
    ckpts = FP8_CHECKPOINTS if target == "trtllm" else {}
    return export_plan(plan, target, catalog, checkpoints=ckpts)  # type: ignore[arg-type]


# ---------------------------------------------------------------- independent readers


def read_script(text: str) -> tuple[list[str], list[str], dict[str, Any], list[str]]:
    """(launcher argv, engine args, options-file content, comment lines above each arg) of a launch script."""
    lines = text.splitlines()
    config: dict[str, Any] = {}
    m = re.search(r"<<'(\w+)'\n(.*?)\n\1\n", text, re.S)
    if m:
        config = yaml.safe_load(m.group(2))
    start = lines.index("args=(")
    end = lines.index(")", start)
    args: list[str] = []
    comments: list[str] = []
    pending = ""
    for line in lines[start + 1 : end]:
        s = line.strip()
        if s.startswith("#"):
            pending = s
            continue
        assert pending, f"no comment above {s!r}"
        comments.append(pending)
        pending = ""
        args += shlex.split(s)
    exec_line = next(ln for ln in lines[end:] if ln.startswith("exec "))
    launcher = shlex.split(exec_line.split('"${args[@]}"')[0])[1:]
    tail = shlex.split(exec_line.split('"${args[@]}"')[1].replace('"${PORT:-8000}"', "8000"))
    return launcher, args + tail, config, comments


def _flags(args: list[str]) -> tuple[list[str], dict[str, str | None]]:
    positional: list[str] = []
    flags: dict[str, str | None] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                flags[a] = args[i + 1]
                i += 2
            else:
                flags[a] = None
                i += 1
        else:
            positional.append(a)
            i += 1
    return positional, flags


def launched(engine: str, script: str) -> dict[str, Any]:
    """What a launch script makes the engine do, in planning terms (per GPU memory in GB)."""
    launcher, args, config, comments = read_script(script)  # read_script asserts a comment above every arg
    assert launcher == list(engine_args(engine).command)
    assert all(len(c) > 10 for c in comments)
    pos, f = _flags(args)
    known = engine_args(engine).flags
    assert all(name in known for name in f), [n for n in f if n not in known]
    if engine == "vllm":
        return {
            "model": pos[0],
            "tp": int(f["--tensor-parallel-size"] or 0),
            "pp": int(f["--pipeline-parallel-size"] or 0),
            "quantization": f.get("--quantization"),
            "kv": f["--kv-cache-dtype"],
            "max_len": int(f["--max-model-len"] or 0),
            "max_seqs": int(f["--max-num-seqs"] or 0),
            "chunk": int(f["--max-num-batched-tokens"] or 0),
            "chunked": "--enable-chunked-prefill" in f,
            "mem_util": float(f["--gpu-memory-utilization"] or 0),
            "served": f["--served-model-name"],
        }
    if engine == "sglang":
        return {
            "model": f["--model-path"],
            "tp": int(f["--tp-size"] or 0),
            "pp": int(f["--pp-size"] or 0),
            "quantization": f.get("--quantization"),
            # `auto`: the KV cache is stored in the model dtype (--dtype)
            "kv": f["--kv-cache-dtype"] if f["--kv-cache-dtype"] != "auto" else f["--dtype"],
            "max_len": int(f["--context-length"] or 0),
            "max_seqs": int(f["--max-running-requests"] or 0),
            "graph_max_batch": int(f["--cuda-graph-max-bs-decode"] or 0),
            "chunk": int(f["--chunked-prefill-size"] or 0),
            "chunked": True,
            "mem_static": float(f["--mem-fraction-static"] or 0),
            "served": f["--served-model-name"],
        }
    return {
        "model": pos[0],
        "tp": int(f["--tp_size"] or 0),
        "pp": int(f["--pp_size"] or 0),
        "quantization": None,
        "kv": config["kv_cache_config"]["dtype"],
        "max_len": int(f["--max_seq_len"] or 0),
        "max_seqs": int(f["--max_batch_size"] or 0),
        "chunk": int(f["--max_num_tokens"] or 0),
        "chunked": config["enable_chunked_prefill"] is True,
        "free_frac": float(f["--kv_cache_free_gpu_memory_fraction"] or 0),
        "served": pos[0],
        "options_file": f["--extra_llm_api_options"],
    }


KV_NAMES = {  # each engine's spelling of the plan's KV dtypes (from its documentation, independently)
    "vllm": {"bfloat16": "bf16", "float16": "fp16", "fp8": "fp8"},
    "sglang": {"bf16": "bf16", "bfloat16": "bf16", "float16": "fp16", "fp8_e4m3": "fp8"},
    "trtllm": {"auto": "bf16", "fp8": "fp8"},
}


def assert_launches_plan(engine: str, script: str, g: ReplicaGroup, model: str) -> None:
    """The round trip: what the script launches equals what the plan assumed for group `g`."""
    s = g.engine_settings
    assert s is not None
    got = launched(engine, script)
    assert got["tp"] == g.tp and got["pp"] == s.pp
    assert KV_NAMES[engine][got["kv"]] == g.kv
    assert got["max_len"] == s.max_model_len and got["max_seqs"] == s.max_num_seqs
    assert got["chunk"] == s.max_num_batched_tokens and got["chunked"] == s.chunked_prefill
    if engine == "trtllm":
        assert got["model"] == (FP8_CHECKPOINTS.get(model, s.hf_repo) if g.weights == "fp8" else s.hf_repo)
    else:
        assert got["model"] == s.hf_repo and got["served"] == g.model
        assert got["quantization"] == ("fp8" if g.weights == "fp8" else None)
    # memory: the KV cache the engine will make, per GPU, from its own semantics
    if engine == "vllm":
        assert got["mem_util"] == pytest.approx(s.gpu_memory_utilization, abs=1e-9)
    elif engine == "sglang":
        assert got["graph_max_batch"] == s.cuda_graph_max_batch
        kv = got["mem_static"] * s.gpu_memory_gb - s.weights_gb_per_gpu
        assert kv == pytest.approx(s.kv_cache_gb_per_gpu, abs=1e-3)
    else:
        left = s.gpu_memory_gb - s.weights_gb_per_gpu - s.activation_gb_per_gpu - s.runtime_reserve_gb_per_gpu
        assert got["free_frac"] * left == pytest.approx(s.kv_cache_gb_per_gpu, abs=1e-3)


def heredoc_scripts(run: str) -> dict[str, str]:
    """Scripts a SkyPilot `run` block writes: {path: text}."""
    pattern = r"cat > (\S+) <<'(GPUPLAN_SCRIPT_\w+)'\n(.*?)\n\2\n"
    return {m.group(1): m.group(3) for m in re.finditer(pattern, run, re.S)}


# ---------------------------------------------------------------- schemas


@pytest.fixture(scope="module")
def skypilot_schema() -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / "skypilot-0.14.1.schema.json").read_text()))


@pytest.fixture(scope="module")
def k8s_schema() -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / "kubernetes-v1.33.0-strict-subset.json").read_text()))


def _validate(doc: Any, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema).validate(doc)


def _validate_k8s(doc: dict[str, Any], schema: dict[str, Any]) -> None:
    root = {"Deployment": "io.k8s.api.apps.v1.Deployment", "Service": "io.k8s.api.core.v1.Service"}[doc["kind"]]
    _validate(doc, {"$ref": f"#/$defs/{root}", "$defs": schema["$defs"]})


# ---------------------------------------------------------------- the matrix


def _expected_refusal(plan: Plan) -> str | None:
    if any(g.capacity_source == "offload" for g in _groups(plan)):
        return "offloaded replica"
    if any(g.role != "aggregated" for g in _groups(plan)):
        return "pool of disaggregated serving"
    if any(g.engine_settings is not None and g.engine_settings.ep > 1 for g in _groups(plan)):
        return "expert parallelism"
    if any(g.nodes > 1 for g in _groups(plan)):
        return "instances per replica"
    return None


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_every_example_exports_to_every_target(  # noqa: C901 - one case, every artefact it writes
    example: str, target: str, plans: Any, catalog: Any, skypilot_schema: Any, k8s_schema: Any
) -> None:
    engine = target if target in ENGINES else "vllm"
    plan = plans[(example, engine)]
    refusal = _expected_refusal(plan)
    if refusal:
        with pytest.raises(ExportRefused, match=refusal):
            _export(plan, target, catalog)
        return
    result = _export(plan, target, catalog)
    groups = {g.candidate: g for g in _groups(plan)}
    label_to_id = {m.model: m.model_id for m in plan.models}
    by_endpoint = {e.endpoint: groups[e.candidate] for e in result.endpoints}
    assert sorted(by_endpoint[e.endpoint].candidate for e in result.endpoints) == sorted(groups)
    if target in ENGINES:
        assert len(result.files) == len(groups)
        for f in result.files:
            g = by_endpoint[f.path.removesuffix(".sh")]
            assert_launches_plan(target, f.text, g, label_to_id[g.model])
    elif target == "skypilot":
        launched_replicas: dict[str, int] = {}
        instances: dict[str, int] = {}
        for f in result.files:
            doc = yaml.safe_load(f.text)
            _validate({k: v for k, v in doc.items()}, skypilot_schema["task"])
            _validate(doc["resources"], skypilot_schema["resources"])
            alloc = next(
                a
                for a in plan.allocations
                if a.instance_type == doc["resources"]["instance_type"]
                and a.region == doc["resources"]["region"]
                and a.spot == doc["resources"]["use_spot"]  # one instance type may be rented both ways
            )
            assert doc["resources"]["cloud"] == alloc.cloud and doc["resources"]["use_spot"] == alloc.spot
            assert int(doc["resources"]["accelerators"].split(":")[1]) == alloc.gpus_per_instance
            assert doc["num_nodes"] == 1
            assert doc["secrets"] == {"HF_TOKEN": None} and "--secret HF_TOKEN" in f.text
            scripts = heredoc_scripts(doc["run"])
            starts = re.findall(r"CUDA_VISIBLE_DEVICES=([\d,]+) PORT=(\d+) (?:exec )?bash (\S+)", doc["run"])
            if "service" in doc:
                _validate(doc["service"], skypilot_schema["service"])
                copies = doc["service"]["replicas"]
                assert len(starts) == 1
            else:
                copies = int(re.search(r"Launch once per planned instance \((\d+)\)", f.text).group(1))  # type: ignore[union-attr]
            key = f"{alloc.offering}{'#spot' if alloc.spot else ''}"
            instances[key] = instances.get(key, 0) + copies
            used: set[int] = set()
            for gpus, _port, path in starts:
                eid = path.removeprefix("/tmp/gpuplan-").removesuffix(".sh")
                g = by_endpoint[eid]
                ids = [int(x) for x in gpus.split(",")]
                assert len(ids) == g.tp and not used & set(ids) and max(ids) < alloc.gpus_per_instance
                used |= set(ids)
                assert_launches_plan("vllm", scripts[path], g, label_to_id[g.model])
                launched_replicas[eid] = launched_replicas.get(eid, 0) + copies
            checkpoints_gb = [
                s.checkpoint_gb
                for p in scripts
                if (s := by_endpoint[p.removeprefix("/tmp/gpuplan-").removesuffix(".sh")].engine_settings)
            ]
            assert doc["resources"]["disk_size"] >= max(checkpoints_gb)
        assert launched_replicas == {e: g.replicas for e, g in by_endpoint.items()}
        assert instances == {f"{a.offering}{'#spot' if a.spot else ''}": a.instances for a in plan.allocations}
    elif target == "k8s":
        for f in result.files:
            docs = [d for d in yaml.safe_load_all(f.text) if d]
            assert [d["kind"] for d in docs] == ["Deployment", "Service"]
            for d in docs:
                _validate_k8s(d, k8s_schema)
            dep = docs[0]
            g = by_endpoint[dep["metadata"]["name"]]
            pod = dep["spec"]["template"]["spec"]
            c = pod["containers"][0]
            assert dep["spec"]["replicas"] == g.replicas
            assert c["resources"]["limits"]["nvidia.com/gpu"] == str(g.tp)
            alloc = next(a for a in plan.allocations if g in a.replicas)
            assert pod["nodeSelector"]["node.kubernetes.io/instance-type"] == alloc.instance_type
            assert c["command"] == ["bash", "-c"]
            token = next(v for v in c["env"] if v["name"] == "HF_TOKEN")
            assert token["valueFrom"]["secretKeyRef"]["optional"] is True
            assert_launches_plan("vllm", c["args"][0], g, label_to_id[g.model])
            assert docs[1]["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    else:
        router = json.loads(result.files[0].text)
        endpoints = {e["id"]: e for e in router["endpoints"]}
        cand = {e["candidate"]: e["id"] for e in router["endpoints"]}
        for s in plan.routing:
            bucket = next(
                b for m in router["models"] if m["model"] == s.model for b in m["buckets"] if b["slice"] == s.slice
            )
            assert bucket["weights"] == {cand[r.candidate]: r.share for r in s.routes}
            assert sum(bucket["weights"].values()) == pytest.approx(1.0, abs=1e-5)
        gateway = yaml.safe_load(result.files[1].text)
        for label in {s.model for s in plan.routing}:
            rate = sum(s.rate_rps for s in plan.routing if s.model == label)
            want: dict[str, float] = {}
            for s in plan.routing:
                for r in s.routes:
                    if s.model == label:
                        want[cand[r.candidate]] = want.get(cand[r.candidate], 0.0) + r.rate_rps / rate
            got = {
                d["litellm_params"]["api_base"].split("//")[1].split(":")[0]: d["litellm_params"]["weight"]
                for d in gateway["model_list"]
                if d["model_name"] == label
            }
            assert got == pytest.approx(want, abs=1e-5)
            assert all(endpoints[e]["model"] == label for e in got)


# ---------------------------------------------------------------- refusals


def _a_plan(plans: Any, engine: str = "vllm") -> Plan:
    plan: Plan = plans[("llama-70b-tp", engine)]
    return plan


def test_refuses_another_engine_than_planned(plans: Any, catalog: Any) -> None:
    with pytest.raises(ExportRefused, match="planned with the vllm profile.*search.engine: sglang"):
        export_plan(_a_plan(plans), "sglang", catalog)


def test_trtllm_refuses_quantised_weights_without_a_checkpoint(plans: Any, catalog: Any) -> None:
    plan = _a_plan(plans, "trtllm")
    assert any(g.weights == "fp8" for g in _groups(plan))
    with pytest.raises(ExportRefused, match="does not quantise at load time.*--checkpoint"):
        export_plan(plan, "trtllm", catalog)


def _with_group(plan: Plan, **changes: Any) -> Plan:
    a = plan.allocations[0]
    g = a.replicas[0].model_copy(update=changes)
    return plan.model_copy(
        update={"allocations": (a.model_copy(update={"replicas": (g, *a.replicas[1:])}), *plan.allocations[1:])}
    )


def test_refuses_multi_node_replicas(plans: Any, catalog: Any) -> None:
    plan = _a_plan(plans)
    a = plan.allocations[0]
    g = a.replicas[0]
    assert g.engine_settings is not None
    big = _with_group(plan, engine_settings=g.engine_settings.model_copy(update={"pp": 2 * a.gpus_per_instance}))
    for target in TARGETS:
        with pytest.raises(ExportRefused, match="instances per replica.*multi-node replicas are not exported"):
            export_plan(big, target, catalog)


def test_refuses_measured_groups_and_old_plans(plans: Any, catalog: Any) -> None:
    plan = _a_plan(plans)
    with pytest.raises(ExportRefused, match="measured profile"):
        export_plan(_with_group(plan, capacity_source="measured"), "vllm", catalog)
    with pytest.raises(ExportRefused, match="no engine_settings"):
        export_plan(_with_group(plan, engine_settings=None), "k8s", catalog)


def test_refuses_a_fleet_larger_than_it_lays_out(plans: Any, catalog: Any) -> None:
    """A hand-edited plan with a billion replicas is refused at once (it ran out of memory: exit 3)."""
    with pytest.raises(ExportRefused, match=r"1,000,000,00\d replicas on 2 instances; .* at most 100,000 of each"):
        export_plan(_with_group(_a_plan(plans), replicas=10**9), "router", catalog)


def test_refuses_infeasible_plans(catalog: Any) -> None:
    env = json.loads((ROOT / "tests" / "golden" / "infeasible.plan.json").read_text())
    with pytest.raises(ExportRefused, match="infeasible"):
        export_plan(Plan.model_validate(env["data"]), "router", catalog)


def test_sglang_and_trtllm_memory_fractions_use_each_engines_semantics(plans: Any, catalog: Any) -> None:
    """Hand-computed from one group's figures: the fractions differ, the KV cache they give does not."""
    plan = _a_plan(plans, "sglang")
    g = _groups(plan)[0]
    s = g.engine_settings
    assert s is not None
    script = next(f.text for f in export_plan(plan, "sglang", catalog).files)
    frac = float(re.search(r"--mem-fraction-static (\S+)", script).group(1))  # type: ignore[union-attr]
    assert frac == pytest.approx((s.weights_gb_per_gpu + s.kv_cache_gb_per_gpu) / s.gpu_memory_gb, abs=1e-6)
    # activations and the runtime reserve sit outside SGLang's static share, so the knob is the plan's
    assert s.activation_gb_per_gpu + s.runtime_reserve_gb_per_gpu <= (1 - frac) * s.gpu_memory_gb
    assert frac == pytest.approx(s.gpu_memory_utilization, abs=1e-6)
    trt = _a_plan(plans, "trtllm")
    t = next(g.engine_settings for g in _groups(trt) if g.engine_settings)
    script = export_plan(trt, "trtllm", catalog, checkpoints=FP8_CHECKPOINTS).files[0].text
    free = float(re.search(r"--kv_cache_free_gpu_memory_fraction (\S+)", script).group(1))  # type: ignore[union-attr]
    left = t.gpu_memory_gb - t.weights_gb_per_gpu - t.activation_gb_per_gpu - t.runtime_reserve_gb_per_gpu
    assert free == pytest.approx(t.kv_cache_gb_per_gpu / left, abs=1e-6)
    assert free == pytest.approx(t.gpu_memory_utilization, abs=1e-6)


def test_engine_settings_are_the_estimators(plans: Any, catalog: Any) -> None:
    """What export reads from the plan is what planner.perf computed: device memory, KV pool, KV tokens."""
    from planner.perf import Deployment, engine_profile, memory_breakdown

    for engine in ENGINES:
        plan = _a_plan(plans, engine)
        for a in plan.allocations:
            for g in a.replicas:
                s = g.engine_settings
                assert s is not None
                gpu = catalog.gpus[a.gpu]
                dep = Deployment(
                    catalog.models["llama-3.3-70b"],
                    gpu,
                    g.tp,
                    g.weights,
                    g.kv,
                    engine_profile(catalog, engine, gpu),
                    s.gpu_memory_utilization,
                )
                mem = memory_breakdown(dep)
                assert s.gpu_memory_gb == pytest.approx(gpu.device_memory_bytes / 1e9, abs=1e-6)
                assert s.kv_cache_gb_per_gpu == pytest.approx(mem.free_for_kv_gb_per_gpu, abs=1e-6)
                assert s.kv_cache_tokens == mem.max_tokens_in_kv


def test_checkpoint_override_applies_to_quantised_groups_only(plans: Any, catalog: Any) -> None:
    """A model planned in bf16 on one offering and fp8 on another loads the FP8 checkpoint only where fp8 was
    planned; `MODEL@DTYPE` picks a checkpoint per weight dtype."""
    plan = _a_plan(plans, "trtllm")
    assert _groups(plan) and all(g.weights == "fp8" for g in _groups(plan))
    # one bf16 replica (on one more instance) beside the planned fp8 groups: the plan may have one group
    a = plan.allocations[0]
    g = a.replicas[0]
    bf16 = g.model_copy(update={"weights": "bf16", "replicas": 1, "gpus": g.tp})
    grown = a.model_copy(update={"replicas": (bf16, *a.replicas), "instances": a.instances + 1})
    mixed = plan.model_copy(update={"allocations": (grown, *plan.allocations[1:])})
    fp8 = "nvidia/Llama-3.3-70B-Instruct-FP8"
    result = export_plan(mixed, "trtllm", catalog, checkpoints={"llama-3.3-70b": fp8})
    loads = sorted((e.weights, e.served_model_name) for e in result.endpoints)
    assert loads[0] == ("bf16", "meta-llama/Llama-3.3-70B-Instruct") and {x[1] for x in loads[1:]} == {fp8}
    other = export_plan(mixed, "trtllm", catalog, checkpoints={"llama-3.3-70b@fp8": fp8, "llama-3.3-70b@bf16": "x/y"})
    assert sorted(e.served_model_name for e in other.endpoints)[-1] == "x/y"


# ---------------------------------------------------------------- command line


def test_cli_writes_files_atomically_into_a_folder(plans: Any, tmp_path: Path) -> None:
    plan_json = tmp_path / "plan.json"
    plan_json.write_text(
        json.dumps(
            {
                "schema_version": "1",
                "command": "plan",
                "status": "ok",
                "data": _a_plan(plans).model_dump(mode="json"),
                "errors": [],
            }
        )
    )
    out = tmp_path / "k8s"
    run = gpuplan("export", plan_json, "--to", "k8s", "-o", out)
    assert run.code == 0, run.err
    assert run.out == ""
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
    assert written and all("/" in w for w in written) and "wrote" in run.err
    assert not list(out.rglob(".*.tmp"))
    text = gpuplan("export", plan_json, "--to", "vllm")
    assert text.code == 0 and text.out.startswith("==> ") and "vllm serve" not in text.err
    js = gpuplan("export", plan_json, "--to", "router", "-f", "json")
    env = json.loads(js.out)
    assert env["command"] == "export" and env["data"]["target"] == "router"
    schema = gpuplan("schema", "export")
    jsonschema.Draft202012Validator(json.loads(schema.out)).validate(env)


def test_cli_refusal_is_one_line_exit_2(plans: Any, tmp_path: Path) -> None:
    plan_json = tmp_path / "plan.json"
    plan_json.write_text(
        json.dumps(
            {
                "schema_version": "1",
                "command": "plan",
                "status": "ok",
                "data": _a_plan(plans).model_dump(mode="json"),
                "errors": [],
            }
        )
    )
    run = gpuplan("export", plan_json, "--to", "trtllm")
    assert run.code == 2 and run.out == ""
    assert "error:" in run.err and "planned with the vllm profile" in run.err and "Traceback" not in run.err
    assert f"{plan_json}: replica group" in "".join(run.err.split("\n"))  # the plan file is named
    bad = gpuplan("export", plan_json, "--to", "k8s", "--checkpoint", "nonsense")
    assert bad.code == 2 and "--checkpoint" in bad.err
