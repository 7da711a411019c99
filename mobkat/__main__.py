from mobkat.cli.main import main

raise SystemExit(main())
