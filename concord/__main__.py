"""Run the command line as ``python -m concord``."""

from concord.cli.main import app

if __name__ == "__main__":
    app(prog_name="concord")
