"""Networks and their parts: the backbones a task reads text through, heads, checkpoints.

Importing the package registers the built-in backbones with Keras, so a saved model directory
that names one of them loads without further imports.
"""

from tfbert.modeling import bert, bilstm, textcnn  # noqa: F401  (the built-in backbones)
