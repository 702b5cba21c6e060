from grete.cli.main import app

app(prog_name="grete")
