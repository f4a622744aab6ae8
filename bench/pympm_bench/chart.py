"""chart.png: requests/s per server of each scenario (latency p50/p99 for
the paced ones), in the deployments' colours."""

from . import servers
from .report import fmt_ms


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scs = [s for s in results["scenarios"] if any(e["summary"] for e in s["entries"])]
    if not scs:
        return
    cols = 2 if len(scs) > 1 else 1
    rows = (len(scs) + cols - 1) // cols
    # Tall enough for the longest list of bars.
    bars = max(len(s["entries"]) for s in scs)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, (0.9 + 0.22 * bars) * rows), squeeze=False)
    for ax in axes.flat[len(scs) :]:
        ax.axis("off")
    for ax, s in zip(axes.flat, scs):
        ents = [e for e in s["entries"] if e["summary"]][::-1]
        labels = [e["label"] for e in ents]
        colors = [servers.colour(e["server"]) for e in ents]
        y = range(len(ents))
        if s.get("think_ms"):
            p50 = [e["summary"]["p50_ms"] for e in ents]
            p99 = [e["summary"]["p99_ms"] for e in ents]
            ax.barh([i + 0.2 for i in y], p50, height=0.4, color=colors, label="p50")
            ax.barh([i - 0.2 for i in y], p99, height=0.4, color=colors, alpha=0.45, label="p99")
            for i, (a, b) in enumerate(zip(p50, p99)):
                ax.text(a, i + 0.2, " %s" % fmt_ms(a), va="center", fontsize=7)
                ax.text(b, i - 0.2, " %s" % fmt_ms(b), va="center", fontsize=7)
            ax.set_xlabel("latency ms (solid p50, light p99; lower is better)")
            ax.set_xlim(0, max(p99) * 1.25)
        else:
            med = [e["summary"]["rps_median"] for e in ents]
            lo = [m - e["summary"]["rps_min"] for m, e in zip(med, ents)]
            hi = [e["summary"]["rps_max"] - m for m, e in zip(med, ents)]
            ax.barh(list(y), med, xerr=[lo, hi], color=colors, capsize=2)
            for i, (v, e) in enumerate(zip(med, ents)):
                ax.text(e["summary"]["rps_max"], i, "  %.0f" % v, va="center", fontsize=7)
            ax.set_xlabel("requests/s (median, min–max; higher is better)")
            ax.set_xlim(0, max(e["summary"]["rps_max"] for e in ents) * 1.25)
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_title("%s: %s, %s" % (s["name"], s["title"], s["model"]), fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
