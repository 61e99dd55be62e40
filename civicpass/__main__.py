from civicpass.cli import main

raise SystemExit(main())
