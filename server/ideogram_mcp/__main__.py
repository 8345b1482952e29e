from ideogram_mcp.start import main

main()
