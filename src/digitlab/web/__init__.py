"""The demo web server: draw a digit (or upload a photo) and see what every method answers.

`digitlab serve` runs it; `app.create_app(models)` builds the FastAPI app, `models.resolve` finds
or trains the models it answers with.
"""
