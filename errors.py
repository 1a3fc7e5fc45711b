"""The base of every error a user can fix: the command line and the app show its sentence, never a traceback."""


class UserError(Exception):
    """A user's mistake (a missing file, a bad video, no camera, corrupt weights, a bad setting), said in one
    sentence that names the thing and what to do."""
