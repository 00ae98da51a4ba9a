"""The seed chapter's linear regression, with jaxish in place of TensorFlow.

Trains y = x @ w by gradient descent twice: with an eager GradientTape loop
(as the chapter writes it), then with the same step compiled by
``@jaxish.trace``; both converge to [0, 1, 2, 3, 4].
"""
from pprint import pprint

import jaxish as tf

tf.random.set_seed(42)

# ground truth
true_weights = tf.constant(list(range(5)), dtype=tf.float32)[:, tf.newaxis]

# some random training data
x = tf.constant(tf.random.uniform((32, 5)), dtype=tf.float32)
y = tf.constant(x @ true_weights, dtype=tf.float32)

# model parameters
weights = tf.Variable(tf.random.uniform((5, 1)), dtype=tf.float32)
initial = weights.read_value()

for iteration in range(1001):
    with tf.GradientTape() as tape:
        y_hat = tf.linalg.matmul(x, weights)
        loss = tf.reduce_mean(tf.square(y - y_hat))
    if not (iteration % 100):
        print('mean squared loss at iteration {:4d} is {:5.4f}'.format(iteration, loss))
    gradients = tape.gradient(loss, weights)
    weights.assign_add(-0.05 * gradients)

pprint(weights)


# The same step, traced once and compiled into fused Numba kernels.
@tf.trace
def train_step(x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, traced_weights)))
    traced_weights.assign_add(-0.05 * tape.gradient(loss, traced_weights))
    return loss


traced_weights = tf.Variable(initial)
for iteration in range(1001):
    loss = train_step(x, y)
print('traced step: final loss {:5.4f}, traces: {}'.format(loss, train_step.cache_info().traces))
pprint(traced_weights)
