# A FastAPI route with a path and a query parameter returning a small JSON
# object: what most FastAPI endpoints look like, minus the database.
from fastapi import FastAPI

app = FastAPI()


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str = ""):
    return {"item_id": item_id, "q": q}
