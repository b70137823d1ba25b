"""Metric names used by PromQL expressions, and the names docs/metrics.md defines."""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
METRICS_MD = os.path.join(ROOT, "docs", "metrics.md")

# Words in PromQL that look like identifiers but are not metric names.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
    "rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "max_over_time", "min_over_time",
    "avg_over_time", "sum_over_time", "count_over_time", "last_over_time", "absent", "absent_over_time", "clamp_min",
    "clamp_max", "clamp", "abs", "ceil", "floor", "round", "time", "vector", "scalar", "label_replace", "label_join",
    "sort", "sort_desc", "changes", "resets", "le", "inf", "nan", "e",
}
BUILTIN = {"up"}  # Prometheus's own series


def documented():
    with open(METRICS_MD) as f:
        return set(re.findall(r"`(otaswarm_[a-z0-9_]+)`", f.read()))


def used_in(expr):
    """Identifiers in a PromQL expression that are metric names (labels and strings removed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)        # string literals
    e = re.sub(r"\{[^}]*\}", "", e)                      # label matchers
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)  # grouping labels
    e = re.sub(r"\[[^\]]*\]", "", e)                     # range selectors
    e = re.sub(r"\$[a-zA-Z_]+|\$\{[^}]*\}", "", e)       # dashboard variables
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", e))
    return {n for n in names if n.lower() not in PROMQL_WORDS and not re.fullmatch(r"[0-9.e]+", n)}


def base_name(metric):
    for suffix in ("_bucket", "_sum", "_count"):
        if metric.endswith(suffix):
            return metric[: -len(suffix)]
    return metric
