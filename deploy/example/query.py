"""Evaluates each panel of deploy/grafana/gemsdash.json on the Prometheus that scraped the run and prints it."""

import json
import sys
import urllib.parse
import urllib.request

prom = sys.argv[1]
with open(sys.argv[2]) as file:
    dash = json.load(file)


def query(expr):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return json.load(urllib.request.urlopen(url))["data"]["result"]


for panel in dash["panels"]:
    unit = panel["fieldConfig"]["defaults"].get("unit", "")
    print(f"{panel['title']}  [{panel['type']}, {unit}]")
    for t in panel["targets"]:
        rows = query(t["expr"])
        for row in sorted(rows, key=lambda r: json.dumps(r["metric"], sort_keys=True)):
            labels = {k: v for k, v in row["metric"].items() if k not in ("__name__", "instance", "job")}
            legend = t.get("legendFormat") or ""
            for k, v in labels.items():
                legend = legend.replace("{{" + k + "}}", v)
            legend = legend or ", ".join(f"{k}={v}" for k, v in labels.items()) or "value"
            value = float(row["value"][1])
            shown = "NaN" if value != value else (f"{value:.0%}" if unit == "percentunit" else f"{value:.3g}")
            print(f"    {legend:<45} {shown}")
        if not rows:
            print(f"    ({t['refId']}: no data)")
