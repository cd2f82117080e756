"""`irp report` and the pictures: the quarter's figures (plan/report.py) gathered from Temporal
visibility (collect.py), drawn with matplotlib (charts.py) and written as text or one
self-contained HTML file (html.py). The post-mortem's timeline picture is drawn here too."""
