"""`gpuplan estimate` for people: latency/throughput, memory and long-context tables."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from planner.estimate import EstimateResult


def _fmt(value: float | bool | str | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def render_estimate_table(r: EstimateResult) -> Group:
    title = (
        f"{r.model} on {r.tp} x {r.gpu} (tp {r.tp}, {r.weights} weights, "
        f"{r.kv} KV, {r.engine}), {r.input_len} in / {r.output_len} out"
    )
    load_txt = {
        "lone": "one request",
        "max": "max concurrency (offline)",
        "concurrency": f"closed loop, {r.load.concurrency} in flight",
        "rate": f"open loop, {r.load.rate_rps} req/s",
    }[r.load.mode]
    if r.pp > 1:
        title = title.replace(f" on {r.tp} x {r.gpu} (tp {r.tp},", f" on {r.gpus} x {r.gpu} (tp {r.tp} x pp {r.pp},")
    parts: list[RenderableType] = [Text(title, style="bold"), Text(f"load: {load_txt}")]
    if r.network:
        parts.append(Text(f"spans {r.nodes} instances: {r.network}"))
    d = r.disaggregated
    if d is not None:
        parts[0] = Text(
            f"{r.model} disaggregated: prefill on {d.prefill.tp * d.prefill.pp} x {d.prefill.gpu}, decode on "
            f"{d.decode.tp * d.decode.pp} x {d.decode.gpu} ({r.weights} weights, {r.kv} KV, {r.engine}), "
            f"{r.input_len} in / {r.output_len} out",
            style="bold",
        )
        parts.append(_disagg_table(r))
        parts.extend(Text(f"substituted: {note}", style="yellow") for note in r.precision.substituted)
        if not r.fits:
            parts.append(Text(f"does not fit: {r.reason}", style="bold red"))
        return Group(*parts)
    parts.extend(Text(f"substituted: {note}", style="yellow") for note in r.precision.substituted)
    if not r.fits:
        parts.append(Text(f"does not fit: {r.reason}", style="bold red"))
    else:
        t = Table(box=box.SIMPLE, show_header=True)
        t.add_column("latency / throughput")
        t.add_column("value", justify="right")
        ttft = _fmt(r.ttft_ms, " ms") if not r.saturated else "unbounded (saturated)"
        for label, value in (
            ("TTFT", ttft),
            ("TPOT", _fmt(r.tpot_ms, " ms", 2)),
            ("end-to-end latency", _fmt(r.e2e_latency_ms, " ms") if not r.saturated else "unbounded"),
            ("output tokens/s (replica)", _fmt(r.output_tokens_per_s)),
            ("output tokens/s per GPU", _fmt(r.output_tokens_per_s_per_gpu)),
            ("requests/s", _fmt(r.requests_per_s, "", 3)),
            ("requests in flight", _fmt(r.concurrency)),
            ("max concurrency (KV-limited, full length)", _fmt(r.max_concurrency)),
            ("KV cache limits the load", _fmt(r.kv_limited)),
            ("prefill share of time", _fmt(None if r.prefill_share is None else r.prefill_share * 100, " %")),
        ):
            t.add_row(label, value)
        parts.append(t)
    m = r.memory
    mt = Table(box=box.SIMPLE, show_header=True)
    mt.add_column("memory")
    mt.add_column("GB", justify="right")
    for name, gb in (
        ("usable per GPU (memory x utilisation)", m.usable_gb_per_gpu),
        ("weights per GPU", m.weights_gb),
        ("activations per GPU", m.activation_gb),
        ("runtime reserve per GPU", m.runtime_reserve_gb),
        ("free for KV cache (replica)", m.free_for_kv_gb),
        ("KV cache per request (input + output)", m.kv_gb_per_request),
    ):
        mt.add_row(name, _fmt(gb, "", 2))
    mt.add_row("KV tokens that fit (replica)", f"{m.max_tokens_in_kv:,}")
    parts.append(mt)
    lc = r.long_context
    if lc:
        lt = Table(box=box.SIMPLE, show_header=True)
        lt.add_column(f"long context ({lc.context_tokens:,}-token prompt)")
        lt.add_column("value", justify="right")
        lt.add_row("KV cache per request", _fmt(lc.kv_gb_per_request, " GB", 2))
        lt.add_row("such requests that fit", _fmt(lc.requests_that_fit))
        lt.add_row("prefill", _fmt(lc.prefill_s, " s", 3))
        lt.add_row("decode per token (alone)", _fmt(lc.decode_ms_per_token, " ms", 2))
        lt.add_row("KV swap HBM <-> host (PCIe)", _fmt(lc.kv_swap_s_per_request, " s", 3))
        parts.append(lt)
    cal, unc = r.engine_profile, r.uncertainty
    band = (
        f"; cross-validated error in regime {unc.band_regime}: median {(unc.cv_median_abs_error or 0) * 100:.0f} %, "
        f"p90 {(unc.cv_p90_abs_error or 0) * 100:.0f} % ({unc.cv_rows} rows)"
        if unc.cv_rows
        else "; no cross-validated rows"
    )
    parts.append(Text(f"engine factors: {r.engine}/{cal.family} ({unc.grade}){band}", style="dim"))
    return Group(*parts)


def _where(offering: str, tp: int, pp: int) -> str:
    """An offering, or a pipeline over several of its instances."""
    return offering if pp == 1 else f"{pp} x {offering} (tp {tp} x pp {pp})"


def _disagg_table(r: EstimateResult) -> Table:
    d = r.disaggregated
    assert d is not None
    t = Table(box=box.SIMPLE, show_header=True)
    t.add_column("disaggregated pair")
    t.add_column("value", justify="right")
    p, q = d.prefill, d.decode
    for label, value in (
        ("TTFT (queueing + prefill + KV transfer)", _fmt(d.ttft_ms, " ms")),
        ("  prefill of a lone prompt", _fmt(p.prefill_ms, " ms")),
        ("  queueing on the prefill replica", _fmt(p.queue_ms, " ms")),
        ("  KV transfer", _fmt(d.kv_transfer_ms, " ms", 2)),
        ("KV cache per request", _fmt(d.kv_mb_per_request, " MB")),
        ("TPOT (decode replica)", _fmt(d.tpot_ms, " ms", 2)),
        ("requests decoding at once", _fmt(q.in_flight)),
        ("prefill replica busy", _fmt(None if p.utilisation is None else p.utilisation * 100, " %")),
        ("prefill instance", _where(p.offering, p.tp, p.pp)),
        ("decode instance", _where(q.offering, q.tp, q.pp)),
        ("link", d.link.split(": ", 1)[-1]),
    ):
        t.add_row(label, value)
    return t
