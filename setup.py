"""The package layout: the repository root is the package ``poselift`` and every folder below it with an
``__init__.py`` (but the tests) is one of its subpackages, found here rather than listed by hand."""
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildPackage(build_py):
    """Leaves this script out of the package it builds (it sits in the package's root folder)."""

    def find_package_modules(self, package, package_dir):
        return [m for m in super().find_package_modules(package, package_dir) if Path(m[2]).name != "setup.py"
                or package != "poselift"]


setup(packages=["poselift"] + [f"poselift.{p}" for p in find_packages(".", exclude=["tests", "tests.*"])],
      package_dir={"poselift": "."}, cmdclass={"build_py": BuildPackage})
