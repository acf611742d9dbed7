"""The framework floor: a minimal Flask app answering a JSON hello, served by gunicorn with the
service's own settings. Every service figure in the report is a ratio to this one."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return {"hello": "world"}
