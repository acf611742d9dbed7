"""The framework floor: a minimal Flask app answering a JSON hello, served by gunicorn with the
service's own settings. Every service figure in the report is a ratio to this one.

The same process also serves bench/floor.py (the stack's floor for show, create and the provider
webhook); its routes do not touch the hello's."""

from flask import Flask

from bench.floor import blueprint as floor

app = Flask(__name__)
app.register_blueprint(floor)


@app.get("/")
def hello():
    return {"hello": "world"}
