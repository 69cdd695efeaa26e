"""HTTP faces: the FastAPI app factory and the dependencies every router shares."""
