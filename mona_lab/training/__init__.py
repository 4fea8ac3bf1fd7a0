"""The training engine, one idea per module (`mona_lab.engine` re-exports the public names).

- `loop`: `train` -- set up, then for each stage, for each step: views -> losses ->
  backward -> optimiser step -> EMA -> log -> validate -> checkpoint;
- `optim`: the optimiser, the learning rate and the contrastive temperature of a step;
- `checkpoint`: what ``last.pt`` and ``best.pt`` hold, atomic saving, exact resume;
- `validation`: Dice / ASD on 3D volumes, during training and of a saved checkpoint;
- `logs`: ``log.csv`` and the progress bar; `dynamics`: ``dynamics.csv`` (weight and
  per-term gradient norms);
- `run_folder`: checking and creating ``--out``; `stop_request`: Ctrl-C / SIGTERM;
- `distributed`: several processes under ``torchrun`` (DistributedDataParallel).

This package imports nothing on import, so ``mona_lab.training.checkpoint`` stays light.
"""
