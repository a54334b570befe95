"""
Packaging for dhcpsuite.

C{twisted/plugins/dhcpsuite_plugin.py} ships as a plain file of the C{twisted}
namespace: there is no C{__init__.py} in C{twisted/} or C{twisted/plugins/},
so Twisted's own package is not shadowed and C{twistd} finds the plugin.
"""

from setuptools import find_packages, setup

setup(
    name="dhcpsuite",
    version="0.1.0",
    description="DHCPv4 server, multi-interface DHCPv4 client, RDK-B lease ingest and netlink reader in one Twisted reactor",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["dhcpsuite", "dhcpsuite.*"]) + ["twisted.plugins"],
    package_data={"dhcpsuite": ["examples/*.toml"]},
    install_requires=[
        "twisted>=23.10",
        "zope.interface>=6",
        "attrs>=23.1",
        "pyroute2>=0.9",
        "prometheus_client>=0.17",
    ],
    extras_require={
        # The PostgreSQL lease store (lease_store = "postgresql").
        "postgresql": ["psycopg[binary]>=3.1"],
        "test": [
            "pytest>=8",
            "pytest-twisted>=1.14",
            "pytest-timeout>=2.3",
            "hypothesis>=6",
            "scapy>=2.5",
            "pynng>=0.8",
            "atheris>=2.3",
            "prometheus_client>=0.17",
            "psycopg[binary]>=3.1",
        ],
    },
    entry_points={
        "console_scripts": [
            "dhcpsuite-check-config=dhcpsuite.checkconfig:main",
            "dhcpsuite-convert=dhcpsuite.migration.convert:main",
            "dhcpsuite-ctl=dhcpsuite.control.cli:main",
            "dhcpsuite-db=dhcpsuite.leases.admin:main",
            "dhcpsuite-udhcpc-plugin=dhcpsuite.ingest.plugins.udhcpc:main",
            "dhcpsuite-dibbler-plugin=dhcpsuite.ingest.plugins.dibbler:main",
        ],
    },
)
