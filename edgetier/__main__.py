from edgetier.cli import main

raise SystemExit(main())
