"""transferbench: does an ImageNet backbone beat a CNN from scratch on your small image dataset?"""

__version__ = "0.1.0"
