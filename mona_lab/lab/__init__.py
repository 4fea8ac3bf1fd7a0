"""The lecture's tools: the helpers the notebooks, the benchmark scripts and ``mona-lab
lecture`` use to run studies, read stored results and draw them.

The library's layers (data -> augment -> models -> losses (samplers, schedules) -> methods
-> training / engine -> metrics) never import from here; this package sits on top of them,
so a student reading the library never meets notebook code, and a notebook finds its
helpers in one place. Which notebook uses which module:

=======================================  ===================================================
module                                   used by
=======================================  ===================================================
`mona_lab.lab.ablation`                  00_tour, 02_tailness, 03_consistency,
  (paper, runs, tables, grid_study,      04_diversity; ``benchmarks/ablation_grid.py``
  principle_effects)
`mona_lab.lab.stored_ablation`           02-04 (the panels' answers from the stored grid)
`mona_lab.lab.run_progress`              02-04 (a fresh run's estimate and progress bar)
`mona_lab.lab.study_runs`                the stored studies' resumable runs
                                         (``benchmarks/ablation_grid.py``,
                                         ``temperature_runs.py``, ``arco_curves.py``)
`mona_lab.lab.phantom_studies`           ``benchmarks/phantom_studies.py`` (effects against
                                         the phantom's heterogeneity and Zipf exponent)
`mona_lab.lab.curve_study`               ``benchmarks/temperature_runs.py``,
                                         ``benchmarks/arco_curves.py``
`mona_lab.lab.principles`                02_tailness (tailness), 03_consistency
  (tailness, consistency, diversity)     (consistency), 04_diversity (diversity)
`mona_lab.lab.widgets`                   01_zipf_class_distributions, 02-04 (ablation panel)
`mona_lab.lab.panel_display`             the panels of 01-04 and 09 (a short text and a picture
                                         of the panel's saved state beside it)
`mona_lab.lab.variance`                  05_variance_ns_sg_sag; 06_loss_landscapes
  (contrast_terms, estimators,           (`pixel_loss_map`, `representative_slices`)
  loss_module)
`mona_lab.lab.landscape`                 06_loss_landscapes (loss surfaces along filter-
                                         normalised directions, Li et al. 2018)
`mona_lab.lab.landscape_studies`         06_loss_landscapes
`mona_lab.lab.landscape_comparison`      06_loss_landscapes (the ``loss-landscapes`` package)
`mona_lab.lab.batchnorm_rescale`         06_loss_landscapes
`mona_lab.lab.temperature_study`         07_temperature_schedules;
                                         ``benchmarks/temperature_runs.py``
`mona_lab.lab.allocation_trace`          07_temperature_schedules
`mona_lab.lab.run_records`               05_variance_ns_sg_sag, 07_temperature_schedules;
                                         ``benchmarks/arco_curves.py``,
                                         ``benchmarks/temperature_runs.py``
`mona_lab.lab.results`                   08_full_gpu_training
`mona_lab.lab.training_dynamics`         09_training_dynamics
  (and dynamics_mechanisms)
`mona_lab.lab.viz` (one module per       every notebook, 00-09
  topic, see its docstring)
`mona_lab.lab.lecture`                   ``mona-lab lecture`` (exports every notebook)
  (notebooks, export, command,
  widget_snapshot, slide_heights)
=======================================  ===================================================

Importing ``mona_lab.lab`` imports none of these (each pulls in what it needs when it is
imported itself).
"""
