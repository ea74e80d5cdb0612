from tevreden.cli import main

main()
