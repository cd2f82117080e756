"""The CLI, `irp` (`python starter.py` in a checkout): main.py reads the command line and runs each
command; commands.py makes a subcommand of each signal in the incident's signal table; outcomes.py
waits for the incident's own answer to what was sent and turns it into a line and an exit code;
keycheck.py warns when this machine's payload key is not the workers'. The receiver needs none of
this (it shares only incident_client/), so the CLI is a room of its own. It imports
incident_client/, connection/, the workflows and the plan; nothing imports it but starter.py."""
