from mi_portal.jobs.cli import main

raise SystemExit(main())
