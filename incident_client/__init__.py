"""The incident's client API: how anything outside the worker opens, joins or beats an incident
(intake.py: an Alertmanager delivery, a person's declaration, the dead man's switch's beat), so the
receiver (webhook/) and the CLI (cli/) name incidents alike and start them the same atomic way. It
holds only what both of them call; what the CLI alone prints and waits for is in cli/. It imports
the workflows and the plan, never the receiver, the CLI or the dev stack."""
