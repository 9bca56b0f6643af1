import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/**
 * Runs one OpenSearch node in this JVM for the local stack. Maven Central has no OpenSearch
 * distribution, only its jars: the node and the plugins it needs come from the classpath, which
 * the public Node constructor refuses (it loads plugins from directories only) and the protected
 * one accepts. Settings come from config/opensearch.yml under the home given as the only argument.
 * Bootstrap (root check, security manager, bootstrap checks) is deliberately not used: this is a
 * loopback development node.
 */
public final class SpiceOpenSearchNode extends Node {
  private static final List<Class<? extends Plugin>> PLUGINS = List.of(
      org.opensearch.transport.Netty4Plugin.class,
      org.opensearch.analysis.common.CommonAnalysisPlugin.class,
      org.opensearch.painless.PainlessPlugin.class);

  private SpiceOpenSearchNode(Environment env) {
    super(env, PLUGINS, true);
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: SpiceOpenSearchNode <home dir with config/opensearch.yml>");
      System.exit(2);
    }
    Path home = Paths.get(args[0]).toAbsolutePath();
    Settings base = Settings.builder().put("path.home", home.toString()).build();
    Environment env = InternalSettingsPreparer.prepareEnvironment(
        base, Collections.emptyMap(), home.resolve("config"), () -> "spice-oms");
    SpiceOpenSearchNode node = new SpiceOpenSearchNode(env);
    CountDownLatch stopped = new CountDownLatch(1);
    // SIGTERM from the stack manager: close the node so its data is flushed, then let main end.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        node.close();
      } catch (Exception e) {
        e.printStackTrace();
      } finally {
        stopped.countDown();
      }
    }, "spice-opensearch-shutdown"));
    node.start();
    System.out.println("spice-oms OpenSearch node started");
    stopped.await();
  }
}
