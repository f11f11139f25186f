from wasim.cli import main

main()
