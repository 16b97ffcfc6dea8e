"""Developer scripts outside the installed package (tools/README.md); a package only so tests can import them."""
