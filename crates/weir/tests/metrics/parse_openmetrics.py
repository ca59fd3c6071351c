"""Reads an OpenMetrics exposition (what Weir's `GET /metrics` serves) on standard input
with the official Python client's own parser, which refuses a malformed exposition (no
`# EOF`, a counter sample without `_total`, a histogram without its `+Inf` bucket, a
repeated family, ...), and prints every sample as JSON:
[{"family", "type", "name", "labels", "value"}, ...].
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append(
            {
                "family": family.name,
                "type": family.type,
                "name": s.name,
                "labels": s.labels,
                "value": s.value,
            }
        )
json.dump(samples, sys.stdout)
