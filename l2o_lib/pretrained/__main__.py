from l2o_lib.pretrained.cli import main

raise SystemExit(main())
