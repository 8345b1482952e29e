from ideogram_mcp.cli import main

main()
