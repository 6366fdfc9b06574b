from instrec.cli import main

raise SystemExit(main())
