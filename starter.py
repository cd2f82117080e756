"""`python starter.py …` runs the CLI, `irp` (cli/main.py), from a checkout without the console
script: the README, the demo and the tests call it so."""

from cli.main import main

if __name__ == "__main__":
    main()
