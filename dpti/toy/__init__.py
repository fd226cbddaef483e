"The toy world, one module per concern: `world` (icons, captions, datasets), `model`, `score` and `demo`."
