"""Code shared by the parameter server and the clients. Imports neither side."""
