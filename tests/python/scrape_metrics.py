"""Scrapes maas serve's /metrics and parses it with prometheus_client's OpenMetrics parser (the
format the endpoint declares), which refuses malformed text.

usage: scrape_metrics.py URL   (URL like http://127.0.0.1:8080/metrics)
Prints JSON {"content_type": ..., "families": {name: {"type": ..., "samples": [{"name", "labels", "value"}]}}}.
"""
import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> None:
    with urllib.request.urlopen(sys.argv[1]) as response:
        content_type = response.headers["Content-Type"]
        text = response.read().decode()
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = {
            "type": family.type,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value}
                        for s in family.samples],
        }
    print(json.dumps({"content_type": content_type, "families": families}))


if __name__ == "__main__":
    main()
